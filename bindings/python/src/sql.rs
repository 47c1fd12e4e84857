//! `Conn.exec(sql, params=None)`: SQL values between Python and wsdial.
//!
//! Parameters: `None`, `bool`, `int`, `float`, `str`, `bytes`/`bytearray`,
//! `decimal.Decimal` (bound as its exact text), and `datetime.datetime`,
//! `datetime.date`, `datetime.time` (bound as ISO 8601 text). Results come
//! back as `None`, `bool`, `int`, `float`, `decimal.Decimal`, `str`, `bytes`,
//! and dates and times as ISO 8601 `str`, as in Dial's JSON.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyType};

use wsdial::db::{Rows, Value};

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The parameters of `exec`: a list or tuple of values (or `None`).
pub(crate) fn params(params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Value>> {
    let Some(p) = params.filter(|p| !p.is_none()) else {
        return Ok(Vec::new());
    };
    if p.is_instance_of::<PyString>() || p.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "params is a list or tuple of values (one per placeholder), not a single str or bytes",
        ));
    }
    let items = p.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "params is a list or tuple of values, one per placeholder; got {}",
            type_name(p)
        ))
    })?;
    items
        .enumerate()
        .map(|(i, item)| {
            value(&item?).map_err(|e| PyTypeError::new_err(format!("params[{i}]: {e}")))
        })
        .collect()
}

/// The rows of `exec_many`: a sequence (list, tuple, generator …) of
/// parameter rows, each a list or tuple of values as `exec` takes them.
pub(crate) fn param_rows(rows: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Value>>> {
    if rows.is_instance_of::<PyString>() || rows.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "rows is a sequence of parameter rows (each a list or tuple of values), not a single str or bytes",
        ));
    }
    let items = rows.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "rows is a sequence of parameter rows (each a list or tuple of values); got {}",
            type_name(rows)
        ))
    })?;
    items
        .enumerate()
        .map(|(i, row)| {
            let row = row?;
            if row.is_none() {
                return Err(PyTypeError::new_err(format!(
                    "rows[{i}]: a parameter row is a list or tuple of values, not None"
                )));
            }
            params(Some(&row))
                .map_err(|e| PyTypeError::new_err(format!("rows[{i}]: {}", e.value(row.py()))))
        })
        .collect()
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// One parameter.
fn value(v: &Bound<'_, PyAny>) -> Result<Value, String> {
    let py = v.py();
    let accepted = "accepted: None, bool, int, float, str, bytes, bytearray, decimal.Decimal, datetime.datetime, datetime.date, datetime.time";
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::Int(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Value::UInt(u));
        }
        return Err(format!(
            "the int {v} does not fit in 64 bits; bind it as decimal.Decimal or str"
        ));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::Text(
            s.extract::<String>().map_err(|e| e.to_string())?,
        ));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    let is = |cell: &PyOnceLock<Py<PyType>>, module: &str, name: &str| -> bool {
        cell.import(py, module, name)
            .map(|t| v.is_instance(t).unwrap_or(false))
            .unwrap_or(false)
    };
    let text =
        || -> Result<String, String> { v.str().map(|s| s.to_string()).map_err(|e| e.to_string()) };
    let iso = || -> Result<String, String> {
        v.call_method0("isoformat")
            .and_then(|s| s.extract::<String>())
            .map_err(|e| e.to_string())
    };
    if is(&DECIMAL, "decimal", "Decimal") {
        return Ok(Value::Decimal(text()?));
    }
    // datetime before date: a datetime is a date.
    if is(&DATETIME, "datetime", "datetime") {
        return Ok(Value::DateTime(iso()?));
    }
    if is(&DATE, "datetime", "date") {
        return Ok(Value::Date(iso()?));
    }
    if is(&TIME, "datetime", "time") {
        return Ok(Value::Time(iso()?));
    }
    Err(format!("cannot bind a {}; {accepted}", type_name(v)))
}

/// The result as Dial's `{"columns": [...], "values": [[...]]}`, with
/// `"affected"` for a statement that reports the rows it changed.
pub(crate) fn rows<'py>(py: Python<'py>, rows: Rows) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("columns", PyList::new(py, &rows.columns)?)?;
    let values = PyList::empty(py);
    for row in rows.values {
        let r = PyList::empty(py);
        for v in row {
            r.append(to_py(py, v)?)?;
        }
        values.append(r)?;
    }
    d.set_item("values", values)?;
    if let Some(n) = rows.affected {
        d.set_item("affected", n)?;
    }
    Ok(d)
}

fn to_py(py: Python<'_>, v: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, f).into_any(),
        Value::Decimal(s) => DECIMAL.import(py, "decimal", "Decimal")?.call1((s,))?,
        Value::Text(s) | Value::Date(s) | Value::Time(s) | Value::DateTime(s) => {
            PyString::new(py, &s).into_any()
        }
        Value::Bytes(b) => PyBytes::new(py, &b).into_any(),
        // A kind of value added to the library later: its debug text.
        other => PyString::new(py, &format!("{other:?}")).into_any(),
    })
}

/// The number of a database handle (`handle://N`).
pub(crate) fn handle_number(h: wsdial::db::Handle) -> u64 {
    let text = h.to_string();
    text.strip_prefix("handle://")
        .and_then(|n| n.parse().ok())
        .expect("a handle displays as handle://N")
}

/// `Dial`'s first argument: an address, or a handle number from `fd()`.
pub(crate) fn address(a: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = a.cast::<PyString>() {
        return s.extract();
    }
    if a.is_instance_of::<PyInt>() && !a.is_instance_of::<PyBool>() {
        let n: u64 = a.extract().map_err(|_| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{a} is not a handle: fd() returns a number of 0 or more"
            ))
        })?;
        return Ok(format!("handle://{n}"));
    }
    Err(PyTypeError::new_err(format!(
        "Dial takes an address (str, URL|key=value&...) or a handle (int, from Conn.fd()); got {}",
        type_name(a)
    )))
}

/// `wsdial.release(handle)`: lets the session of a handle from `fd()` close
/// once no connection is open on it (at once if none is). Releasing twice,
/// or a handle whose session is gone, does nothing.
#[pyfunction]
pub(crate) fn release(handle: u64) -> PyResult<()> {
    let h: wsdial::db::Handle = format!("handle://{handle}")
        .parse()
        .map_err(|e: wsdial::Error| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    h.release();
    Ok(())
}
