//! Field-by-field reading of JSON payload objects, with errors that name the field.
//!
//! serde's derived decoders report a wrong field only in prose; the protocol needs the
//! field's name in a typed error (a FileRequest refusal names what is out of range). Every
//! JSON payload therefore decodes through [`Fields`]: unknown fields are ignored (forward
//! compatibility) and `null` reads as absent.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{TransferId, WireError};

/// A JSON object being decoded as message `kind`.
pub(crate) struct Fields {
    kind: &'static str,
    map: Map<String, Value>,
}

impl Fields {
    /// Parses `bytes` as a JSON object.
    pub(crate) fn parse(kind: &'static str, bytes: &[u8]) -> Result<Fields, WireError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| WireError::Json {
            kind,
            reason: e.to_string(),
        })?;
        Fields::from_value(kind, value)
    }

    /// Takes an already parsed value, which must be an object.
    pub(crate) fn from_value(kind: &'static str, value: Value) -> Result<Fields, WireError> {
        match value {
            Value::Object(map) => Ok(Fields { kind, map }),
            _ => Err(WireError::Json {
                kind,
                reason: "expected a JSON object".into(),
            }),
        }
    }

    /// The object's fields.
    pub(crate) fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The value of `field`, with `null` read as absent.
    pub(crate) fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn type_error(&self, field: &'static str, expected: &'static str) -> WireError {
        WireError::FieldType {
            kind: self.kind,
            field,
            expected,
        }
    }

    /// An out-of-range error for `field`.
    pub(crate) fn range_error(
        &self,
        field: &'static str,
        value: impl ToString,
        allowed: &'static str,
    ) -> WireError {
        WireError::FieldOutOfRange {
            kind: self.kind,
            field,
            value: value.to_string(),
            allowed,
        }
    }

    fn required<T>(&self, field: &'static str, v: Option<T>) -> Result<T, WireError> {
        v.ok_or(WireError::MissingField {
            kind: self.kind,
            field,
        })
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, field: &'static str) -> Result<Option<String>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.type_error(field, "a string")),
        }
    }

    /// A required string.
    pub(crate) fn req_str(&self, field: &'static str) -> Result<String, WireError> {
        let v = self.opt_str(field)?;
        self.required(field, v)
    }

    /// An optional number read as f64 (JSON cannot carry NaN or infinities).
    pub(crate) fn opt_f64(&self, field: &'static str) -> Result<Option<f64>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.type_error(field, "a number")),
            Some(_) => Err(self.type_error(field, "a number")),
        }
    }

    /// A required number read as f64.
    pub(crate) fn req_f64(&self, field: &'static str) -> Result<f64, WireError> {
        let v = self.opt_f64(field)?;
        self.required(field, v)
    }

    /// An optional non-negative integer; negative or fractional numbers are out of range.
    pub(crate) fn opt_u64(&self, field: &'static str) -> Result<Option<u64>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None => Err(self.range_error(field, n, "a non-negative integer")),
            },
            Some(_) => Err(self.type_error(field, "an integer")),
        }
    }

    /// A required non-negative integer.
    pub(crate) fn req_u64(&self, field: &'static str) -> Result<u64, WireError> {
        let v = self.opt_u64(field)?;
        self.required(field, v)
    }

    /// An optional integer in `min..=max`.
    pub(crate) fn opt_u64_in(
        &self,
        field: &'static str,
        min: u64,
        max: u64,
        allowed: &'static str,
    ) -> Result<Option<u64>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(self.range_error(field, n, allowed)),
            },
            Some(_) => Err(self.type_error(field, "an integer")),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, field: &'static str) -> Result<Option<bool>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.type_error(field, "true or false")),
        }
    }

    /// An optional JSON object.
    pub(crate) fn opt_object(
        &self,
        field: &'static str,
    ) -> Result<Option<Map<String, Value>>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(self.type_error(field, "a JSON object")),
        }
    }

    /// An optional UUID string (any form the `uuid` crate reads).
    pub(crate) fn opt_uuid(&self, field: &'static str) -> Result<Option<Uuid>, WireError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => Uuid::parse_str(&s)
                .map(Some)
                .map_err(|_| self.type_error(field, "a UUID")),
        }
    }

    /// A required UUID string.
    pub(crate) fn req_uuid(&self, field: &'static str) -> Result<Uuid, WireError> {
        let v = self.opt_uuid(field)?;
        self.required(field, v)
    }

    /// An optional transfer id (12 hex digits).
    pub(crate) fn opt_transfer_id(
        &self,
        field: &'static str,
    ) -> Result<Option<TransferId>, WireError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.type_error(field, "12 hex digits (a transfer id)")),
        }
    }

    /// An optional name from a closed set, parsed by `parse`.
    pub(crate) fn opt_name<T>(
        &self,
        field: &'static str,
        parse: fn(&str) -> Option<T>,
        allowed: &'static str,
    ) -> Result<Option<T>, WireError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or_else(|| self.range_error(field, format!("{s:?}"), allowed)),
        }
    }
}

/// Builds a JSON object field by field, skipping absent optional values.
#[derive(Default)]
pub(crate) struct ObjectWriter(Map<String, Value>);

impl ObjectWriter {
    /// Sets `field` to `value`.
    pub(crate) fn put(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.0.insert(field.to_owned(), value.into());
        self
    }

    /// Sets `field` when `value` is Some.
    pub(crate) fn put_opt(self, field: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.put(field, v),
            None => self,
        }
    }

    /// The finished object.
    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// The object as compact JSON bytes.
    pub(crate) fn write(self, buf: &mut impl bytes::BufMut) {
        write_json(&self.into_value(), buf)
    }
}

/// Writes a JSON value compactly. Values built here always serialize.
pub(crate) fn write_json(value: &Value, buf: &mut impl bytes::BufMut) {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    buf.put_slice(&bytes);
}

/// A finite f64 as a JSON number; non-finite values (which JSON cannot carry) become `null`.
pub(crate) fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
