//! SQL functions SQLite lacks, registered on every connection as Django's SQLite backend
//! registers its own: `REVERSE`, `REPEAT`, `LPAD`, `RPAD`, `MD5`, `SHA1`, `SHA256`, and the
//! math functions a build without `SQLITE_ENABLE_MATH_FUNCTIONS` (the bundled one) has not:
//! `CEIL`, `CEILING`, `FLOOR`, `MOD`, `POWER`, `SQRT`, `SIGN`. Each gives NULL for a NULL
//! argument, as the servers do.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;

const FLAGS: FunctionFlags = FunctionFlags::SQLITE_UTF8.union(FunctionFlags::SQLITE_DETERMINISTIC);

/// Argument `i` as text (numbers in their SQLite text form); `None` for NULL.
fn text(ctx: &Context<'_>, i: usize) -> Option<String> {
    match ctx.get_raw(i) {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    }
}

/// Argument `i` as an integer; `None` for NULL or what is not a number.
fn int(ctx: &Context<'_>, i: usize) -> Option<i64> {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => Some(n),
        ValueRef::Real(f) => Some(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A number: integer or real; `None` for NULL or what is not a number.
enum Num {
    Int(i64),
    Real(f64),
}

fn num(ctx: &Context<'_>, i: usize) -> Option<Num> {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => Some(Num::Int(n)),
        ValueRef::Real(f) => Some(Num::Real(f)),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).ok()?.trim();
            s.parse().map(Num::Int).ok().or_else(|| s.parse().map(Num::Real).ok())
        }
        _ => None,
    }
}

fn real(ctx: &Context<'_>, i: usize) -> Option<f64> {
    num(ctx, i).map(|n| match n {
        Num::Int(i) => i as f64,
        Num::Real(f) => f,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Django's `_sqlite_lpad`/`_sqlite_rpad`: cut to `length` characters, or padded with `fill`
/// repeated.
fn pad(text: &str, length: i64, fill: &str, left: bool) -> String {
    let length = usize::try_from(length).unwrap_or(0);
    let have = text.chars().count();
    if have >= length || fill.is_empty() {
        return text.chars().take(length).collect();
    }
    let padding: String = fill.chars().cycle().take(length - have).collect();
    if left {
        padding + text
    } else {
        text.to_owned() + &padding
    }
}

/// Registers the functions on `conn`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function("REVERSE", 1, FLAGS, |ctx| {
        Ok(text(ctx, 0).map(|s| s.chars().rev().collect::<String>()))
    })?;
    conn.create_scalar_function("REPEAT", 2, FLAGS, |ctx| {
        Ok(match (text(ctx, 0), int(ctx, 1)) {
            (Some(s), Some(n)) => Some(s.repeat(usize::try_from(n).unwrap_or(0))),
            _ => None,
        })
    })?;
    for (name, left) in [("LPAD", true), ("RPAD", false)] {
        conn.create_scalar_function(name, 3, FLAGS, move |ctx| {
            Ok(match (text(ctx, 0), int(ctx, 1), text(ctx, 2)) {
                (Some(s), Some(n), Some(fill)) => Some(pad(&s, n, &fill, left)),
                _ => None,
            })
        })?;
    }
    conn.create_scalar_function("MD5", 1, FLAGS, |ctx| {
        use md5::Digest;
        Ok(text(ctx, 0).map(|s| hex(&md5::Md5::digest(s.as_bytes()))))
    })?;
    conn.create_scalar_function("SHA1", 1, FLAGS, |ctx| {
        use sha1::Digest;
        Ok(text(ctx, 0).map(|s| hex(&sha1::Sha1::digest(s.as_bytes()))))
    })?;
    conn.create_scalar_function("SHA256", 1, FLAGS, |ctx| {
        use sha2::Digest;
        Ok(text(ctx, 0).map(|s| hex(&sha2::Sha256::digest(s.as_bytes()))))
    })?;
    for (name, f) in [("CEIL", f64::ceil as fn(f64) -> f64), ("CEILING", f64::ceil), ("FLOOR", f64::floor)] {
        conn.create_scalar_function(name, 1, FLAGS, move |ctx| {
            Ok(match num(ctx, 0) {
                Some(Num::Int(i)) => SqlValue::Integer(i),
                Some(Num::Real(x)) => SqlValue::Real(f(x)),
                None => SqlValue::Null,
            })
        })?;
    }
    conn.create_scalar_function("SIGN", 1, FLAGS, |ctx| {
        Ok(match num(ctx, 0) {
            Some(Num::Int(i)) => SqlValue::Integer(i.signum()),
            Some(Num::Real(x)) if x.is_nan() => SqlValue::Null,
            Some(Num::Real(x)) => SqlValue::Integer(if x > 0.0 {
                1
            } else if x < 0.0 {
                -1
            } else {
                0
            }),
            None => SqlValue::Null,
        })
    })?;
    conn.create_scalar_function("MOD", 2, FLAGS, |ctx| {
        // The remainder with the dividend's sign (fmod), NULL for a zero divisor as MySQL.
        Ok(match (num(ctx, 0), num(ctx, 1)) {
            (Some(Num::Int(a)), Some(Num::Int(b))) => a.checked_rem(b).map_or(SqlValue::Null, SqlValue::Integer),
            // Decimals reach SQLite as reals: the remainder of their shortest decimal forms
            // (-12.9 mod 0.6 is -0.3, where fmod of the binary values gives -0.3000000000000008).
            (Some(_), Some(_)) => match (real(ctx, 0), real(ctx, 1)) {
                (Some(_), Some(0.0)) => SqlValue::Null,
                (Some(a), Some(b)) => {
                    use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
                    match (rust_decimal::Decimal::from_f64(a), rust_decimal::Decimal::from_f64(b)) {
                        (Some(x), Some(y)) => (x % y).to_f64().map_or(SqlValue::Real(a % b), SqlValue::Real),
                        _ => SqlValue::Real(a % b),
                    }
                }
                _ => SqlValue::Null,
            },
            _ => SqlValue::Null,
        })
    })?;
    conn.create_scalar_function("POWER", 2, FLAGS, |ctx| {
        Ok(match (real(ctx, 0), real(ctx, 1)) {
            (Some(a), Some(b)) => Some(a.powf(b)),
            _ => None,
        })
    })?;
    conn.create_scalar_function("SQRT", 1, FLAGS, |ctx| Ok(real(ctx, 0).filter(|x| *x >= 0.0).map(f64::sqrt)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn pads_and_cuts_as_djangos_sqlite_functions() {
        assert_eq!(pad("John", 7, "xy", true), "xyxJohn");
        assert_eq!(pad("John", 7, "xy", false), "Johnxyx");
        assert_eq!(pad("Johnathan", 4, " ", true), "John");
        assert_eq!(pad("ünï", 5, "é", true), "ééünï");
        assert_eq!(pad("x", -1, " ", false), "");
    }
}
