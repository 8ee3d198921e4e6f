//! Loading and validating vector files (schema version 1, see `vectors/README.md`).
//!
//! A file is parsed with `serde_json` into a [`serde_json::Value`] and then walked field by field,
//! so that every problem is reported as a [`LoadError`] naming the file, the case and the field,
//! never as a panic. Numbers are JSON numbers read as `f64` (correctly rounded, thanks to
//! `serde_json`'s `float_roundtrip` feature) or one of the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"`. Float32 values are the `f64` cast with `as f32`, which the exporter guarantees
//! gives back the exact float32 bits PyTorch produced.

use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The `format` field every vector file carries.
pub const FORMAT: &str = "groupnorm-vectors";
/// The schema version this crate reads.
pub const VERSION: u64 = 1;

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
    /// gamma, one per channel.
    pub weight: Option<Vec<f32>>,
    /// beta, one per channel.
    pub bias: Option<Vec<f32>>,
    /// The input, flattened in C order.
    pub input: Vec<f32>,
    /// PyTorch's float32 results on `input`.
    pub expected_f32: Expected<f32>,
    /// PyTorch's float64 results on `input` upcast to float64.
    pub expected_f64: Expected<f64>,
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

    /// The group (`n * G + g`) that the flat input index `i` belongs to.
    pub fn group_of(&self, i: usize) -> usize {
        i / self.group_len()
    }

    /// The channel `c` of the flat input index `i`.
    pub fn channel_of(&self, i: usize) -> usize {
        (i / self.channel_len()) % self.channels()
    }

    /// gamma of channel `c` (1 without weight).
    pub fn gamma(&self, c: usize) -> f32 {
        self.weight.as_ref().map_or(1.0, |w| w[c])
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

/// What is wrong with a vector file.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The file could not be read.
    Io(String),
    /// The file is not JSON.
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The `format` field is not [`FORMAT`].
    WrongFormat { found: String },
    /// The `version` field is not [`VERSION`].
    UnsupportedVersion { found: String },
    /// A required field is absent.
    MissingField,
    /// A field the schema does not have.
    UnknownField,
    /// A value of the wrong JSON type.
    WrongType {
        expected: &'static str,
        found: String,
    },
    /// A string where a number is expected that is not `"NaN"`, `"Infinity"` or `"-Infinity"`.
    BadNumberString { found: String },
    /// A finite float32 field whose value is beyond the float32 range.
    NotFloat32 { value: f64 },
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
            Problem::WrongFormat { found } => {
                write!(f, "expected \"{FORMAT}\", found {found}")
            }
            Problem::UnsupportedVersion { found } => write!(
                f,
                "unsupported schema version {found}; this runner reads version {VERSION}"
            ),
            Problem::MissingField => write!(f, "missing"),
            Problem::UnknownField => write!(f, "not a field of schema version {VERSION}"),
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
    let value: Value = serde_json::from_str(text).map_err(|e| {
        fail(
            None,
            None,
            Problem::Json {
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
            },
        )
    })?;
    let top = Fields::new(&value, "").map_err(|(field, p)| fail(None, field, p))?;
    top.only(&["format", "version", "torch_version", "generator", "cases"])
        .map_err(|(field, p)| fail(None, field, p))?;
    let header = || -> FieldResult<(String, String, &Vec<Value>)> {
        let format = top.get("format")?;
        if format.as_str() != Some(FORMAT) {
            return Err((
                Some("format".into()),
                Problem::WrongFormat {
                    found: format.to_string(),
                },
            ));
        }
        let version = top.get("version")?;
        if version.as_u64() != Some(VERSION) {
            return Err((
                Some("version".into()),
                Problem::UnsupportedVersion {
                    found: version.to_string(),
                },
            ));
        }
        let torch_version = top.string("torch_version")?;
        let generator = top.string("generator")?;
        let cases = top.array("cases")?;
        Ok((torch_version, generator, cases))
    };
    let (torch_version, generator, raw_cases) =
        header().map_err(|(field, p)| fail(None, field, p))?;

    let mut cases = Vec::with_capacity(raw_cases.len());
    let mut names = HashSet::new();
    for (index, raw) in raw_cases.iter().enumerate() {
        let name = raw.get("name").and_then(Value::as_str).map(str::to_owned);
        let case_ref = CaseRef { index, name };
        let case = parse_case(raw).map_err(|(field, p)| fail(Some(case_ref.clone()), field, p))?;
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

/// serde_json appends " at line L column C" to its messages; the position is reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

type FieldResult<T> = Result<T, (Option<String>, Problem)>;

/// The fields of one JSON object, with `prefix` naming the object in errors.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, prefix: &'a str) -> FieldResult<Self> {
        match value {
            Value::Object(map) => Ok(Fields { map, prefix }),
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
    fn only(&self, allowed: &[&str]) -> FieldResult<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err((Some(self.path(key)), Problem::UnknownField)),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> FieldResult<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| (Some(self.path(key)), Problem::MissingField))
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

    fn string(&self, key: &str) -> FieldResult<String> {
        let v = self.get(key)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong(key, "a string", v))
    }

    fn boolean(&self, key: &str) -> FieldResult<bool> {
        let v = self.get(key)?;
        v.as_bool().ok_or_else(|| self.wrong(key, "a boolean", v))
    }

    fn array(&self, key: &str) -> FieldResult<&'a Vec<Value>> {
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

    fn float64s(&self, key: &str) -> FieldResult<Vec<f64>> {
        let items = self.array(key)?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| number(v).map_err(|p| (Some(format!("{}[{i}]", self.path(key))), p)))
            .collect()
    }

    fn float32s(&self, key: &str) -> FieldResult<Vec<f32>> {
        let items = self.array(key)?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| float32(v).map_err(|p| (Some(format!("{}[{i}]", self.path(key))), p)))
            .collect()
    }

    /// A float32 array, or `None` for `null`; `flag` is the boolean that says which to expect.
    fn optional_float32s(
        &self,
        key: &str,
        flag: &'static str,
        present: bool,
    ) -> FieldResult<Option<Vec<f32>>> {
        let v = self.get(key)?;
        match (v.is_null(), present) {
            (true, false) => Ok(None),
            (false, true) => self.float32s(key).map(Some),
            (is_null, _) => Err((
                Some(self.path(key)),
                Problem::FlagMismatch {
                    flag,
                    flag_value: is_null,
                },
            )),
        }
    }
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
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

/// A float32 value: [`number`] cast with `as f32`, which must not overflow.
fn float32(value: &Value) -> Result<f32, Problem> {
    let v = number(value)?;
    let single = v as f32;
    if v.is_finite() && !single.is_finite() {
        return Err(Problem::NotFloat32 { value: v });
    }
    Ok(single)
}

fn parse_case(raw: &Value) -> FieldResult<Case> {
    let fields = Fields::new(raw, "")?;
    fields.only(&[
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
    ])?;
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
    let check_len = |field: String, found: usize, expected: usize, because: &str| {
        if found == expected {
            Ok(())
        } else {
            Err((
                Some(field),
                Problem::Length {
                    expected,
                    found,
                    because: because.to_owned(),
                },
            ))
        }
    };

    let input = fields.float32s("input")?;
    let numel_why = format!("the product of the shape {shape_text}");
    check_len("input".into(), input.len(), numel, &numel_why)?;
    let weight = fields.optional_float32s("weight", "has_weight", has_weight)?;
    let bias = fields.optional_float32s("bias", "has_bias", has_bias)?;
    for (key, values) in [("weight", &weight), ("bias", &bias)] {
        if let Some(values) = values {
            check_len(key.into(), values.len(), channels, "one per channel C")?;
        }
    }

    let expected = Fields::new(fields.get("expected")?, "expected")?;
    expected.only(&["float32", "float64"])?;
    let block = |key: &str| -> FieldResult<Fields<'_>> {
        let prefix = match key {
            "float32" => "expected.float32",
            _ => "expected.float64",
        };
        let block = Fields::new(expected.get(key)?, prefix)?;
        block.only(&["y", "mean", "rstd"])?;
        Ok(block)
    };
    let stats_why = format!("N * G = {} * {num_groups}", shape[0]);
    let f32_block = block("float32")?;
    let expected_f32 = Expected {
        y: f32_block.float32s("y")?,
        mean: f32_block.float32s("mean")?,
        rstd: f32_block.float32s("rstd")?,
    };
    let f64_block = block("float64")?;
    let expected_f64 = Expected {
        y: f64_block.float64s("y")?,
        mean: f64_block.float64s("mean")?,
        rstd: f64_block.float64s("rstd")?,
    };
    for (precision, y, mean, rstd) in [
        (
            "float32",
            expected_f32.y.len(),
            expected_f32.mean.len(),
            expected_f32.rstd.len(),
        ),
        (
            "float64",
            expected_f64.y.len(),
            expected_f64.mean.len(),
            expected_f64.rstd.len(),
        ),
    ] {
        check_len(format!("expected.{precision}.y"), y, numel, &numel_why)?;
        check_len(
            format!("expected.{precision}.mean"),
            mean,
            stats_len,
            &stats_why,
        )?;
        check_len(
            format!("expected.{precision}.rstd"),
            rstd,
            stats_len,
            &stats_why,
        )?;
    }
    Ok(Case {
        name,
        description,
        shape,
        num_groups,
        eps,
        weight,
        bias,
        input,
        expected_f32,
        expected_f64,
    })
}
