//! Loading and validating vector files (schema versions 1 and 2, see `vectors/README.md`).
//!
//! A file is parsed with `serde_json` into a [`serde_json::Value`] and then walked field by field,
//! so that every problem is reported as a [`LoadError`] naming the file, the case and the field,
//! never as a panic. Numbers are JSON numbers read as `f64` (correctly rounded, thanks to
//! `serde_json`'s `float_roundtrip` feature) or one of the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`. Float32 values are the `f64` cast with `as f32`, which the exporter guarantees
//! gives back the exact float32 bits PyTorch produced. Float16 and bfloat16 values are read the
//! same way (float32 holds them exactly) and must be values of their type: `input` of `dtype`,
//! `weight` and `bias` of `param_dtype`, and in the block named by `dtype`, `y` of `dtype` and
//! `mean` and `rstd` of [`Case::stats_dtype`]. A float16 or bfloat16 case may hold a third
//! block, `expected.float32` ([`Case::expected_f32_upcast`]).

use crate::variant::{Activation, DType, Layout, SchemaName, Variant};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The `format` field every vector file carries.
pub const FORMAT: &str = "groupnorm-vectors";
/// The schema version `vectors/export.py` writes. This crate also reads version 1, whose cases
/// are those of version 2 without `layout`, `dtype`, `param_dtype`, `activation` and
/// `backward` (the defaults of [`Variant`], and no backward case).
pub const VERSION: u64 = 2;
/// Every schema version this crate reads.
pub const VERSIONS: [u64; 2] = [1, 2];

/// One vector file.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFile {
    /// Where it was read from (as given).
    pub path: PathBuf,
    /// The PyTorch version that produced the expected values.
    pub torch_version: String,
    /// The `generator` field (the script that wrote the file).
    pub generator: String,
    pub cases: Vec<Case>,
}

/// One GroupNorm input with PyTorch's outputs for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub description: String,
    /// `[N, C, spatial...]`, at least two dimensions.
    pub shape: Vec<usize>,
    /// `G`, which divides `C`.
    pub num_groups: usize,
    /// PyTorch's `eps` (a Python float); it may be 0 or negative.
    pub eps: f64,
    /// The layout, the element types and the activation.
    pub variant: Variant,
    /// gamma, one per channel.
    pub weight: Option<Vec<f32>>,
    /// beta, one per channel.
    pub bias: Option<Vec<f32>>,
    /// The input, in the memory order of `variant.layout`; every value is one of
    /// `variant.dtype` (float32 holds the values of both half types exactly).
    pub input: Vec<f32>,
    /// PyTorch's results on `input` in the case's own types (the `expected` block named by
    /// `variant.dtype`): `y` of `variant.dtype`, `mean` and `rstd` of
    /// [`stats_dtype`](Case::stats_dtype) (float32 except for a float16 or bfloat16 case whose
    /// weight and bias are of its own type, or absent), each held exactly as `f32`. For a silu
    /// case, `F.silu` of PyTorch's `y` in that type.
    pub expected_native: Expected<f32>,
    /// For a float16 or bfloat16 case, PyTorch float32 on the input, weight and bias upcast to
    /// float32, in the same layout (the optional `expected.float32` block; every case of
    /// `vectors/half_precision.json` and `vectors/silu.json` in a half type has one). `None`
    /// for a float32 case, whose `expected_native` is PyTorch float32, and where the file has no
    /// such block. See [`pytorch_float32`](Case::pytorch_float32).
    pub expected_f32_upcast: Option<Expected<f32>>,
    /// PyTorch's float64 results on `input` upcast to float64: what subjects are graded against.
    pub expected_f64: Expected<f64>,
    /// A backward case: `grad_output` with PyTorch's gradients (schema version 2; no vector has
    /// one yet).
    pub backward: Option<Backward>,
}

/// The backward half of a case: `grad_output` and PyTorch's gradients for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Backward {
    /// Like `input`: same length, layout and type.
    pub grad_output: Vec<f32>,
    /// In the case's own type (`grad_weight` and `grad_bias` of `param_dtype`).
    pub expected_native: Gradients<f32>,
    /// On the values upcast to float64.
    pub expected_f64: Gradients<f64>,
}

/// `native_group_norm_backward`'s outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients<T> {
    /// Like `input`.
    pub grad_input: Vec<T>,
    /// One per channel, where the case has a weight.
    pub grad_weight: Option<Vec<T>>,
    /// One per channel, where the case has a bias.
    pub grad_bias: Option<Vec<T>>,
}

/// `native_group_norm`'s three outputs: `y` like the input, `mean` and `rstd` with `N * G` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected<T> {
    pub y: Vec<T>,
    pub mean: Vec<T>,
    pub rstd: Vec<T>,
}

impl Case {
    /// `N`.
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// `C`.
    pub fn channels(&self) -> usize {
        self.shape[1]
    }

    /// `prod(spatial)`: the values per channel (1 for an `(N, C)` shape).
    pub fn channel_len(&self) -> usize {
        self.shape[2..].iter().product()
    }

    /// `L = C / G * prod(spatial)`: the values per group.
    pub fn group_len(&self) -> usize {
        self.channels() / self.num_groups * self.channel_len()
    }

    /// `N * G`: the number of groups, and the length of `mean` and `rstd`.
    pub fn group_count(&self) -> usize {
        self.batch() * self.num_groups
    }

    /// The channel `c` of `input[i]` (in the case's layout).
    pub fn channel_of(&self, i: usize) -> usize {
        match self.variant.layout {
            Layout::Contiguous => (i / self.channel_len()) % self.channels(),
            Layout::ChannelsLast => i % self.channels(),
        }
    }

    /// The group (`n * G + g`) that `input[i]` belongs to (in the case's layout).
    pub fn group_of(&self, i: usize) -> usize {
        let sample_len = self.channels() * self.channel_len();
        let n = i / sample_len;
        n * self.num_groups + self.channel_of(i) / (self.channels() / self.num_groups)
    }

    /// The indices of `input` that group `group` (`n * G + g`) holds, in memory order.
    pub fn group_indices(&self, group: usize) -> impl Iterator<Item = usize> + '_ {
        let sample_len = self.channels() * self.channel_len();
        let start = group / self.num_groups * sample_len;
        (start..start + sample_len).filter(move |&i| self.group_of(i) == group)
    }

    /// gamma of channel `c` (1 without weight).
    pub fn gamma(&self, c: usize) -> f32 {
        self.weight.as_ref().map_or(1.0, |w| w[c])
    }

    /// beta of channel `c` (0 without bias).
    pub fn beta(&self, c: usize) -> f32 {
        self.bias.as_ref().map_or(0.0, |b| b[c])
    }

    /// The type of PyTorch's `mean` and `rstd` in `expected_native`: float32 for float32 input,
    /// and for half input with float32 weight or bias (PyTorch's mixed-type path); the input's
    /// type for half input whose weight and bias are of that type, or absent. (PyTorch takes
    /// no other combination; the loader rejects them.)
    pub fn stats_dtype(&self) -> DType {
        stats_dtype(self.variant, self.weight.is_some() || self.bias.is_some())
    }

    /// PyTorch float32's results on the case's values: `expected_native` for a float32 case,
    /// `expected_f32_upcast` for a half-type one (`None` where the file has none).
    pub fn pytorch_float32(&self) -> Option<&Expected<f32>> {
        match self.variant.dtype {
            DType::Float32 => Some(&self.expected_native),
            _ => self.expected_f32_upcast.as_ref(),
        }
    }

    /// The shape as PyTorch writes it, e.g. `(1, 4, 5, 5)`.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        format!("({})", dims.join(", "))
    }
}

/// A vector file that could not be read or does not follow the schema. Its fields are those of
/// [`LoadErrorDetails`] (through `Deref`), boxed to keep `Result`s small.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError(Box<LoadErrorDetails>);

impl LoadError {
    pub fn new(
        file: PathBuf,
        case: Option<CaseRef>,
        field: Option<String>,
        problem: Problem,
    ) -> LoadError {
        LoadError(Box::new(LoadErrorDetails {
            file,
            case,
            field,
            problem,
        }))
    }
}

impl std::ops::Deref for LoadError {
    type Target = LoadErrorDetails;

    fn deref(&self) -> &LoadErrorDetails {
        &self.0
    }
}

/// Where a [`LoadError`] is and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadErrorDetails {
    /// The file.
    pub file: PathBuf,
    /// The case, when the problem is inside one.
    pub case: Option<CaseRef>,
    /// The field, as a dotted path (`expected.float32.y`, `input[12]`), when there is one.
    pub field: Option<String>,
    pub problem: Problem,
}

/// A case, by position in the file and by name where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRef {
    pub index: usize,
    pub name: Option<String>,
}

/// What is wrong with a vector file (or an inputs or results file).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read.
    Io(String),
    /// The file is not JSON.
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The `format` field is not the file's format ([`FORMAT`] for a vector file).
    WrongFormat {
        expected: &'static str,
        found: String,
    },
    /// The `version` field is none of the versions this crate reads of the file's format.
    UnsupportedVersion { found: String, supported: Vec<u64> },
    /// A required field is absent.
    MissingField,
    /// A field the file's schema version does not have.
    UnknownField { version: u64 },
    /// A value of the wrong JSON type.
    WrongType {
        expected: &'static str,
        found: String,
    },
    /// A string where a number is expected that is not `"NaN"`, `"Infinity"` or `"-Infinity"`.
    BadNumberString { found: String },
    /// A finite float32 field whose value is beyond the float32 range.
    NotFloat32 { value: f64 },
    /// A value that its field's type (float16 or bfloat16) does not hold.
    NotOfType { value: f32, dtype: &'static str },
    /// A string that is none of the names the field takes.
    NotOneOf {
        expected: Vec<&'static str>,
        found: String,
    },
    /// `has_weight` / `has_bias` disagrees with whether the array is `null`.
    FlagMismatch {
        flag: &'static str,
        flag_value: bool,
    },
    /// An array of the wrong length.
    Length {
        expected: usize,
        found: usize,
        because: String,
    },
    /// A shape or group count GroupNorm cannot take.
    InvalidShape(String),
    /// Two cases with the same name (in one file, or across the files loaded together).
    DuplicateName { first: String },
    /// A results file names a case that none of the vector files given holds.
    UnknownCase,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(case) = &self.case {
            write!(f, ", case #{}", case.index)?;
            if let Some(name) = &case.name {
                write!(f, " ({name})")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(message) => write!(f, "cannot read the file: {message}"),
            Problem::Json {
                line,
                column,
                message,
            } => write!(f, "not valid JSON at line {line}, column {column}: {message}"),
            Problem::WrongFormat { expected, found } => {
                write!(f, "expected \"{expected}\", found {found}")
            }
            Problem::UnsupportedVersion { found, supported } => {
                let versions: Vec<String> = supported.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "unsupported schema version {found}; this runner reads version {}",
                    versions.join(" and ")
                )
            }
            Problem::MissingField => write!(f, "missing"),
            Problem::UnknownField { version } => {
                write!(f, "not a field of schema version {version}")
            }
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::BadNumberString { found } => write!(
                f,
                "expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", found the string {found:?}"
            ),
            Problem::NotFloat32 { value } => {
                write!(f, "{value:e} is a finite number outside the float32 range")
            }
            Problem::NotOfType { value, dtype } => {
                write!(f, "{value:e} is not a {dtype} value")
            }
            Problem::NotOneOf { expected, found } => {
                let names: Vec<String> = expected.iter().map(|n| format!("\"{n}\"")).collect();
                write!(f, "expected one of {}, found {found}", names.join(", "))
            }
            Problem::FlagMismatch { flag, flag_value } => {
                if *flag_value {
                    write!(f, "is null, but `{flag}` is true")
                } else {
                    write!(f, "is not null, but `{flag}` is false")
                }
            }
            Problem::Length {
                expected,
                found,
                because,
            } => write!(f, "expected {expected} values ({because}), found {found}"),
            Problem::InvalidShape(why) => write!(f, "{why}"),
            Problem::DuplicateName { first } => {
                write!(f, "the case name is already used in {first}")
            }
            Problem::UnknownCase => write!(f, "no case of this name in the vector files given"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The bundled vectors directory, `vectors/` at the repository root.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors"))
}

/// Every `*.json` file in `dir`, sorted by file name.
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io_error = |e: std::io::Error| {
        LoadError::new(dir.to_path_buf(), None, None, Problem::Io(e.to_string()))
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Loads every file of [`json_files`]`(dir)`, in that order, and checks that case names are
/// unique across them.
pub fn load_dir(dir: &Path) -> Result<Vec<VectorFile>, LoadError> {
    load_files(&json_files(dir)?)
}

/// Loads the given files in order, and checks that case names are unique across them.
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<VectorFile>, LoadError> {
    let mut files = Vec::with_capacity(paths.len());
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for path in paths {
        let file = load_file(path)?;
        for (index, case) in file.cases.iter().enumerate() {
            let here = format!("{}", path.display());
            if let Some(first) = seen.insert(case.name.clone(), here) {
                return Err(LoadError::new(
                    path.clone(),
                    Some(CaseRef {
                        index,
                        name: Some(case.name.clone()),
                    }),
                    Some("name".into()),
                    Problem::DuplicateName { first },
                ));
            }
        }
        files.push(file);
    }
    Ok(files)
}

/// Reads and validates one vector file.
pub fn load_file(path: &Path) -> Result<VectorFile, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(path.to_path_buf(), None, None, Problem::Io(e.to_string())))?;
    parse_file(path, &text)
}

/// Parses and validates the text of a vector file; `path` only names it in errors.
pub fn parse_file(path: &Path, text: &str) -> Result<VectorFile, LoadError> {
    let fail = |case: Option<CaseRef>, field: Option<String>, problem: Problem| {
        LoadError::new(path.to_path_buf(), case, field, problem)
    };
    let value = parse_json(text).map_err(|p| fail(None, None, p))?;
    let stated = value.get("version").and_then(Value::as_u64);
    // The top level is the same in both versions.
    let top = Fields::new(&value, "", stated.unwrap_or(VERSION))
        .map_err(|(field, p)| fail(None, field, p))?;
    let header = || -> FieldResult<(u64, String, String, &Vec<Value>)> {
        // The format first: a results or inputs file given as vectors says so.
        top.format(FORMAT)?;
        top.only(&["format", "version", "torch_version", "generator", "cases"])?;
        let version = top.version(&VERSIONS)?;
        let torch_version = top.string("torch_version")?;
        let generator = top.string("generator")?;
        let cases = top.array("cases")?;
        Ok((version, torch_version, generator, cases))
    };
    let (version, torch_version, generator, raw_cases) =
        header().map_err(|(field, p)| fail(None, field, p))?;

    let mut cases = Vec::with_capacity(raw_cases.len());
    let mut names = HashSet::new();
    for (index, raw) in raw_cases.iter().enumerate() {
        let name = raw.get("name").and_then(Value::as_str).map(str::to_owned);
        let case_ref = CaseRef { index, name };
        let case = parse_case(raw, version)
            .map_err(|(field, p)| fail(Some(case_ref.clone()), field, p))?;
        if !names.insert(case.name.clone()) {
            return Err(fail(
                Some(case_ref),
                Some("name".into()),
                Problem::DuplicateName {
                    first: "this file".into(),
                },
            ));
        }
        cases.push(case);
    }
    Ok(VectorFile {
        path: path.to_path_buf(),
        torch_version,
        generator,
        cases,
    })
}

/// The JSON value of `text`.
pub(crate) fn parse_json(text: &str) -> Result<Value, Problem> {
    serde_json::from_str(text).map_err(|e| Problem::Json {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// serde_json appends " at line L column C" to its messages; the position is reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

pub(crate) type FieldResult<T> = Result<T, (Option<String>, Problem)>;

/// The fields of one JSON object, with `prefix` naming the object in errors.
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    prefix: String,
    /// The schema version, for [`Problem::UnknownField`].
    version: u64,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(value: &'a Value, prefix: &str, version: u64) -> FieldResult<Self> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                prefix: prefix.to_owned(),
                version,
            }),
            other => Err((
                (!prefix.is_empty()).then(|| prefix.to_owned()),
                Problem::WrongType {
                    expected: "an object",
                    found: describe(other),
                },
            )),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Rejects keys that are not in `allowed`.
    pub(crate) fn only(&self, allowed: &[&str]) -> FieldResult<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err((
                Some(self.path(key)),
                Problem::UnknownField {
                    version: self.version,
                },
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn get(&self, key: &str) -> FieldResult<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| (Some(self.path(key)), Problem::MissingField))
    }

    /// The `format` field, which must be `format`.
    pub(crate) fn format(&self, format: &'static str) -> FieldResult<()> {
        let found = self.get("format")?;
        if found.as_str() == Some(format) {
            Ok(())
        } else {
            Err((
                Some("format".into()),
                Problem::WrongFormat {
                    expected: format,
                    found: found.to_string(),
                },
            ))
        }
    }

    /// The `version` field, which must be one of `versions`.
    pub(crate) fn version(&self, versions: &[u64]) -> FieldResult<u64> {
        let found = self.get("version")?;
        found
            .as_u64()
            .filter(|v| versions.contains(v))
            .ok_or_else(|| {
                (
                    Some("version".into()),
                    Problem::UnsupportedVersion {
                        found: found.to_string(),
                        supported: versions.to_vec(),
                    },
                )
            })
    }

    /// An error unless the array at `key` holds `expected` values.
    pub(crate) fn length(
        &self,
        key: &str,
        found: usize,
        expected: usize,
        because: &str,
    ) -> FieldResult<()> {
        check_length(self.path(key), found, expected, because)
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> (Option<String>, Problem) {
        (
            Some(self.path(key)),
            Problem::WrongType {
                expected,
                found: describe(found),
            },
        )
    }

    pub(crate) fn string(&self, key: &str) -> FieldResult<String> {
        let v = self.get(key)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong(key, "a string", v))
    }

    fn boolean(&self, key: &str) -> FieldResult<bool> {
        let v = self.get(key)?;
        v.as_bool().ok_or_else(|| self.wrong(key, "a boolean", v))
    }

    pub(crate) fn array(&self, key: &str) -> FieldResult<&'a Vec<Value>> {
        let v = self.get(key)?;
        v.as_array().ok_or_else(|| self.wrong(key, "an array", v))
    }

    fn count(&self, key: &str) -> FieldResult<usize> {
        let v = self.get(key)?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.wrong(key, "a non-negative integer", v))
    }

    fn float64(&self, key: &str) -> FieldResult<f64> {
        let v = self.get(key)?;
        number(v).map_err(|p| (Some(self.path(key)), p))
    }

    pub(crate) fn float64s(&self, key: &str) -> FieldResult<Vec<f64>> {
        let items = self.array(key)?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| number(v).map_err(|p| (Some(format!("{}[{i}]", self.path(key))), p)))
            .collect()
    }

    /// An array of values of `dtype` (as float32, which holds each exactly).
    pub(crate) fn values(&self, key: &str, dtype: DType) -> FieldResult<Vec<f32>> {
        let items = self.array(key)?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                float32(v, dtype).map_err(|p| (Some(format!("{}[{i}]", self.path(key))), p))
            })
            .collect()
    }

    /// `null` exactly when `present` (the value of the boolean `flag`) is false.
    fn optional<T>(
        &self,
        key: &str,
        flag: &'static str,
        present: bool,
        read: impl FnOnce() -> FieldResult<T>,
    ) -> FieldResult<Option<T>> {
        let v = self.get(key)?;
        match (v.is_null(), present) {
            (true, false) => Ok(None),
            (false, true) => read().map(Some),
            (is_null, _) => Err((
                Some(self.path(key)),
                Problem::FlagMismatch {
                    flag,
                    flag_value: is_null,
                },
            )),
        }
    }

    /// An array of [`values`](Self::values), or `None` for `null`; `flag` is the boolean that
    /// says which to expect.
    fn optional_values(
        &self,
        key: &str,
        flag: &'static str,
        present: bool,
        dtype: DType,
    ) -> FieldResult<Option<Vec<f32>>> {
        self.optional(key, flag, present, || self.values(key, dtype))
    }

    /// A float64 array, or `None` for `null`, as [`optional_values`](Self::optional_values).
    fn optional_float64s(
        &self,
        key: &str,
        flag: &'static str,
        present: bool,
    ) -> FieldResult<Option<Vec<f64>>> {
        self.optional(key, flag, present, || self.float64s(key))
    }

    /// The object at `key`, which holds only `keys`.
    fn object(&self, key: &str, keys: &[&str]) -> FieldResult<Fields<'a>> {
        let fields = Fields::new(self.get(key)?, &self.path(key), self.version)?;
        fields.only(keys)?;
        Ok(fields)
    }

    /// One of the names of `T` ([`SchemaName`]), or `T::default()` where the key is absent.
    fn schema_name<T: SchemaName + Default>(&self, key: &str) -> FieldResult<T> {
        let Some(v) = self.map.get(key) else {
            return Ok(T::default());
        };
        v.as_str().and_then(T::from_schema_name).ok_or_else(|| {
            (
                Some(self.path(key)),
                Problem::NotOneOf {
                    expected: T::ALL.iter().map(|t| t.schema_name()).collect(),
                    found: describe(v),
                },
            )
        })
    }
}

/// A short description of a JSON value for error messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(a) => format!("an array of {} values", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// A float64 value: a JSON number, or `"NaN"`, `"Infinity"` or `"-Infinity"`.
fn number(value: &Value) -> Result<f64, Problem> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| Problem::WrongType {
            expected: "a number",
            found: describe(value),
        }),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(Problem::BadNumberString { found: s.clone() }),
        },
        other => Err(Problem::WrongType {
            expected: "a number",
            found: describe(other),
        }),
    }
}

/// A value of `dtype`: [`number`] cast with `as f32`, which must not overflow and must give a
/// value of `dtype`.
fn float32(value: &Value, dtype: DType) -> Result<f32, Problem> {
    let v = number(value)?;
    let single = v as f32;
    if v.is_finite() && !single.is_finite() {
        return Err(Problem::NotFloat32 { value: v });
    }
    if !dtype.holds(single) {
        return Err(Problem::NotOfType {
            value: single,
            dtype: dtype.schema_name(),
        });
    }
    Ok(single)
}

/// The type of PyTorch's `mean` and `rstd` for `variant` ([`Case::stats_dtype`]);
/// `has_parameters`: the case has a weight or a bias.
pub fn stats_dtype(variant: Variant, has_parameters: bool) -> DType {
    if has_parameters && variant.param_dtype == DType::Float32 {
        DType::Float32
    } else {
        variant.dtype
    }
}

/// The keys of a case in schema version 1.
const CASE_KEYS_V1: [&str; 11] = [
    "name",
    "description",
    "shape",
    "num_groups",
    "eps",
    "has_weight",
    "has_bias",
    "input",
    "weight",
    "bias",
    "expected",
];

/// The keys version 2 adds, all optional.
const CASE_KEYS_V2: [&str; 5] = ["layout", "dtype", "param_dtype", "activation", "backward"];

fn parse_case(raw: &Value, version: u64) -> FieldResult<Case> {
    let fields = Fields::new(raw, "", version)?;
    let mut keys = CASE_KEYS_V1.to_vec();
    if version >= 2 {
        keys.extend(CASE_KEYS_V2);
    }
    fields.only(&keys)?;
    let name = fields.string("name")?;
    let description = fields.string("description")?;
    let shape = fields
        .array("shape")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| fields.wrong(&format!("shape[{i}]"), "a non-negative integer", v))
        })
        .collect::<FieldResult<Vec<usize>>>()?;
    let num_groups = fields.count("num_groups")?;
    let eps = fields.float64("eps")?;
    let variant = Variant {
        layout: fields.schema_name("layout")?,
        dtype: fields.schema_name("dtype")?,
        param_dtype: fields.schema_name("param_dtype")?,
        activation: fields.schema_name::<Activation>("activation")?,
    };
    // PyTorch takes float32 weight and bias with any input, and half ones only with input of
    // the same type ("mixed dtype (CPU): expect parameter to have scalar type of Float").
    if variant.param_dtype != DType::Float32 && variant.param_dtype != variant.dtype {
        return Err((
            Some("param_dtype".into()),
            Problem::NotOneOf {
                expected: vec![DType::Float32.schema_name(), variant.dtype.schema_name()],
                found: format!("\"{}\"", variant.param_dtype.schema_name()),
            },
        ));
    }
    let has_weight = fields.boolean("has_weight")?;
    let has_bias = fields.boolean("has_bias")?;

    let invalid = |field: &str, why: String| (Some(field.to_owned()), Problem::InvalidShape(why));
    if shape.len() < 2 {
        return Err(invalid(
            "shape",
            format!(
                "expected at least 2 dimensions (N, C, *), found {}",
                shape.len()
            ),
        ));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid("shape", "the product of the shape overflows".into()))?;
    let channels = shape[1];
    if num_groups == 0 || channels % num_groups != 0 {
        return Err(invalid(
            "num_groups",
            format!("{num_groups} groups do not divide the {channels} channels"),
        ));
    }
    if !eps.is_finite() {
        return Err(invalid("eps", format!("eps must be finite, found {eps}")));
    }
    let shape_text = format!("{shape:?}");
    let stats_len = shape[0]
        .checked_mul(num_groups)
        .ok_or_else(|| invalid("num_groups", "N * num_groups overflows".into()))?;
    let numel_why = format!("the product of the shape {shape_text}");
    let stats_why = format!("N * G = {} * {num_groups}", shape[0]);
    let lengths = Lengths {
        numel: (numel, &numel_why),
        channels: (channels, "one per channel C"),
        stats: (stats_len, &stats_why),
    };

    let input = fields.values("input", variant.dtype)?;
    lengths.check("input".into(), input.len(), lengths.numel)?;
    let weight = fields.optional_values("weight", "has_weight", has_weight, variant.param_dtype)?;
    let bias = fields.optional_values("bias", "has_bias", has_bias, variant.param_dtype)?;
    for (key, values) in [("weight", &weight), ("bias", &bias)] {
        if let Some(values) = values {
            lengths.check(key.into(), values.len(), lengths.channels)?;
        }
    }

    let native = variant.dtype.schema_name();
    let expected = Fields::new(fields.get("expected")?, "expected", version)?;
    // A half-type case may add PyTorch float32 on its values upcast.
    let half = variant.dtype != DType::Float32;
    if half {
        expected.only(&[native, "float32", "float64"])?;
    } else {
        expected.only(&[native, "float64"])?;
    }
    let block = |name: &str, y_dtype: DType, stats: DType| -> FieldResult<Expected<f32>> {
        let block = expected.object(name, &["y", "mean", "rstd"])?;
        Ok(Expected {
            y: block.values("y", y_dtype)?,
            mean: block.values("mean", stats)?,
            rstd: block.values("rstd", stats)?,
        })
    };
    let stats = stats_dtype(variant, has_weight || has_bias);
    let expected_native = block(native, variant.dtype, stats)?;
    let expected_f32_upcast = if half && expected.map.contains_key("float32") {
        Some(block("float32", DType::Float32, DType::Float32)?)
    } else {
        None
    };
    let f64_block = expected.object("float64", &["y", "mean", "rstd"])?;
    let expected_f64 = Expected {
        y: f64_block.float64s("y")?,
        mean: f64_block.float64s("mean")?,
        rstd: f64_block.float64s("rstd")?,
    };
    let lens = |e: &Expected<f32>| [e.y.len(), e.mean.len(), e.rstd.len()];
    let mut blocks = vec![(native, lens(&expected_native))];
    if let Some(upcast) = &expected_f32_upcast {
        blocks.push(("float32", lens(upcast)));
    }
    blocks.push((
        "float64",
        [
            expected_f64.y.len(),
            expected_f64.mean.len(),
            expected_f64.rstd.len(),
        ],
    ));
    for (block, [y, mean, rstd]) in blocks {
        lengths.check(format!("expected.{block}.y"), y, lengths.numel)?;
        lengths.check(format!("expected.{block}.mean"), mean, lengths.stats)?;
        lengths.check(format!("expected.{block}.rstd"), rstd, lengths.stats)?;
    }
    let backward = match fields.map.get("backward") {
        None => None,
        Some(raw) => Some(parse_backward(
            raw,
            version,
            variant,
            [has_weight, has_bias],
            &lengths,
        )?),
    };
    Ok(Case {
        name,
        description,
        shape,
        num_groups,
        eps,
        variant,
        weight,
        bias,
        input,
        expected_native,
        expected_f32_upcast,
        expected_f64,
        backward,
    })
}

/// The lengths a case's arrays must have, each with the reason for the error message.
struct Lengths<'a> {
    numel: (usize, &'a str),
    channels: (usize, &'a str),
    stats: (usize, &'a str),
}

impl Lengths<'_> {
    fn check(
        &self,
        field: String,
        found: usize,
        (expected, because): (usize, &str),
    ) -> FieldResult<()> {
        check_length(field, found, expected, because)
    }
}

/// A [`Problem::Length`] at `field` unless `found == expected`.
fn check_length(field: String, found: usize, expected: usize, because: &str) -> FieldResult<()> {
    if found == expected {
        return Ok(());
    }
    Err((
        Some(field),
        Problem::Length {
            expected,
            found,
            because: because.to_owned(),
        },
    ))
}

/// The `backward` object of a version 2 case.
fn parse_backward(
    raw: &Value,
    version: u64,
    variant: Variant,
    [has_weight, has_bias]: [bool; 2],
    lengths: &Lengths<'_>,
) -> FieldResult<Backward> {
    let fields = Fields::new(raw, "backward", version)?;
    fields.only(&["grad_output", "expected"])?;
    let grad_output = fields.values("grad_output", variant.dtype)?;
    lengths.check(
        "backward.grad_output".into(),
        grad_output.len(),
        lengths.numel,
    )?;
    let native = variant.dtype.schema_name();
    let expected = Fields::new(fields.get("expected")?, "backward.expected", version)?;
    expected.only(&[native, "float64"])?;
    let keys = ["grad_input", "grad_weight", "grad_bias"];
    let native_block = expected.object(native, &keys)?;
    let f64_block = expected.object("float64", &keys)?;
    let expected_native = Gradients {
        grad_input: native_block.values("grad_input", variant.dtype)?,
        grad_weight: native_block.optional_values(
            "grad_weight",
            "has_weight",
            has_weight,
            variant.param_dtype,
        )?,
        grad_bias: native_block.optional_values(
            "grad_bias",
            "has_bias",
            has_bias,
            variant.param_dtype,
        )?,
    };
    let expected_f64 = Gradients {
        grad_input: f64_block.float64s("grad_input")?,
        grad_weight: f64_block.optional_float64s("grad_weight", "has_weight", has_weight)?,
        grad_bias: f64_block.optional_float64s("grad_bias", "has_bias", has_bias)?,
    };
    for (block, g) in [
        (native, expected_native.lengths()),
        ("float64", expected_f64.lengths()),
    ] {
        let at = |key: &str| format!("backward.expected.{block}.{key}");
        lengths.check(at("grad_input"), g[0].unwrap_or(0), lengths.numel)?;
        for (key, len) in [("grad_weight", g[1]), ("grad_bias", g[2])] {
            if let Some(len) = len {
                lengths.check(at(key), len, lengths.channels)?;
            }
        }
    }
    Ok(Backward {
        grad_output,
        expected_native,
        expected_f64,
    })
}

impl<T> Gradients<T> {
    /// The lengths of the three arrays, `None` for an absent one.
    fn lengths(&self) -> [Option<usize>; 3] {
        [
            Some(self.grad_input.len()),
            self.grad_weight.as_ref().map(Vec::len),
            self.grad_bias.as_ref().map(Vec::len),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A version 2 file with one float16 case of shape (1, 2, 2), one group, with the blocks
    /// float16, float32 and float64; `params`: whether it has a weight and a bias, and their
    /// type.
    fn f16_file(params: Option<&str>) -> Value {
        let w = params.map(|_| json!([1.0, 0.5]));
        let b = params.map(|_| json!([0.0, -0.25]));
        json!({
            "format": "groupnorm-vectors", "version": 2, "torch_version": "2.15.0",
            "generator": "test",
            "cases": [{
                "name": "f16", "description": "", "shape": [1, 2, 2], "num_groups": 1,
                "eps": 1e-5, "layout": "contiguous", "dtype": "float16",
                "param_dtype": params.unwrap_or("float16"), "activation": "silu",
                "has_weight": params.is_some(), "has_bias": params.is_some(),
                "input": [1.0, 2.0, 3.0, 4.0], "weight": w, "bias": b,
                "expected": {
                    "float16": {"y": [-1.0, -0.5, 0.5, 1.0], "mean": [2.5], "rstd": [0.875]},
                    "float32": {"y": [-1.0, -0.5, 0.5, 1.0], "mean": [2.5], "rstd": [0.1]},
                    "float64": {"y": [-1.0, -0.5, 0.5, 1.0], "mean": [2.5], "rstd": [0.1]}
                }
            }]
        })
    }

    fn parse(file: &Value) -> Result<VectorFile, LoadError> {
        parse_file(Path::new("test.json"), &file.to_string())
    }

    #[test]
    fn half_cases_take_an_optional_float32_block() {
        let case = parse(&f16_file(None)).unwrap().cases.remove(0);
        assert_eq!(case.stats_dtype(), DType::Float16);
        assert_eq!(case.expected_native.rstd, [0.875]);
        let upcast = case.expected_f32_upcast.as_ref().unwrap();
        assert_eq!(upcast.rstd, [0.1f32]); // float32, not float16: 0.1 is not a float16
        assert_eq!(case.pytorch_float32(), Some(upcast));
        // Without the float32 block.
        let mut file = f16_file(None);
        file["cases"][0]["expected"]
            .as_object_mut()
            .unwrap()
            .remove("float32");
        let case = parse(&file).unwrap().cases.remove(0);
        assert_eq!(
            (&case.expected_f32_upcast, case.pytorch_float32()),
            (&None, None)
        );
        // A float32 case has no second float32 block: its own block is that.
        let mut file = f16_file(Some("float32"));
        file["cases"][0]["dtype"] = json!("float32");
        let expected = file["cases"][0]["expected"].as_object_mut().unwrap();
        expected.remove("float16");
        let case = parse(&file).unwrap().cases.remove(0);
        assert_eq!(case.expected_f32_upcast, None);
        assert_eq!(case.pytorch_float32(), Some(&case.expected_native));
        let e = parse(&{
            let mut f = file.clone();
            f["cases"][0]["expected"]["float16"] = f["cases"][0]["expected"]["float32"].clone();
            f
        })
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("expected.float16"));
        assert_eq!(e.problem, Problem::UnknownField { version: 2 });
    }

    #[test]
    fn stats_are_read_in_their_type() {
        // Half parameters, or none: mean and rstd of the input's type; 0.1 is not a float16.
        for params in [None, Some("float16")] {
            let mut file = f16_file(params);
            file["cases"][0]["expected"]["float16"]["rstd"] = json!([0.1]);
            let e = parse(&file).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("expected.float16.rstd[0]"), "{e}");
            assert!(
                matches!(
                    e.problem,
                    Problem::NotOfType {
                        dtype: "float16",
                        ..
                    }
                ),
                "{e}"
            );
        }
        // Float32 parameters: PyTorch's mixed-type path, float32 mean and rstd.
        let mut file = f16_file(Some("float32"));
        file["cases"][0]["expected"]["float16"]["rstd"] = json!([0.1]);
        let case = parse(&file).unwrap().cases.remove(0);
        assert_eq!(case.stats_dtype(), DType::Float32);
        assert_eq!(case.expected_native.rstd, [0.1f32]);
        // y is of the input's type whatever the parameters.
        file["cases"][0]["expected"]["float16"]["y"][0] = json!(0.1);
        let e = parse(&file).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("expected.float16.y[0]"), "{e}");
        // bfloat16 weights are values of bfloat16.
        let mut file = f16_file(Some("bfloat16"));
        file["cases"][0]["dtype"] = json!("bfloat16");
        let expected = file["cases"][0]["expected"].as_object_mut().unwrap();
        let block = expected.remove("float16").unwrap();
        expected.insert("bfloat16".into(), block);
        file["cases"][0]["expected"]["bfloat16"]["rstd"] = json!([0.875]);
        assert_eq!(
            parse(&file).unwrap().cases[0].stats_dtype(),
            DType::BFloat16
        );
        file["cases"][0]["weight"][1] = json!(0.501);
        let e = parse(&file).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("weight[1]"), "{e}");
    }

    #[test]
    fn parameters_of_another_half_type_are_rejected() {
        // PyTorch refuses them: "mixed dtype (CPU): expect parameter to have scalar type of
        // Float".
        let mut file = f16_file(Some("bfloat16"));
        let e = parse(&file).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("param_dtype"), "{e}");
        assert!(e.to_string().contains("\"float32\", \"float16\""), "{e}");
        file["cases"][0]["dtype"] = json!("float32");
        let e = parse(&file).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("param_dtype"), "{e}");
        assert!(matches!(e.problem, Problem::NotOneOf { .. }), "{e}");
    }
}
