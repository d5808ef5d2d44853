//! `full_clean`, as Django's `Model.full_clean`: every field checked (null, blank,
//! `max_length`, choices, the validators declared on it), foreign keys that point nowhere,
//! the model's own `clean` hook, unique fields and unique sets probed against the table that
//! owns them, and check constraints evaluated by the database on the instance's values; every
//! message collected per field (or under [`NON_FIELD_ERRORS`]).
//!
//! A multi-table child is cleaned as its ancestors are, each part against its own table; the
//! key linking it to its parent is not a field to fill in.

use crate::error::{Error, Result, ValidationErrors, NON_FIELD_ERRORS};
use crate::expressions::q::{Leaf, Lookup, Node, Operand};
use crate::model::meta::{ConstraintMeta, FieldMeta, ModelMeta};
use crate::model::Model;
use crate::queryset::QuerySet;
use crate::Q;
use orm_backends::{Dialect, Executor, Value};
use std::borrow::Cow;

fn eq_leaf(name: &'static str, v: Value) -> Node {
    Node::Leaf(Leaf { path: vec![Cow::Borrowed(name)], lookup: Lookup::Exact, operand: Operand::Value(v) })
}

/// Is there another row (not `obj`, when it is saved) with these field values? A new
/// instance with a key of its own is probed with that key too, as Django does.
fn taken<M: Model>(obj: &M, ex: &(impl Executor + ?Sized), fields: &[(&'static str, Value)]) -> Result<bool> {
    let mut qs = QuerySet::<M>::new();
    for (name, v) in fields {
        qs = qs.filter(Q::from_node(eq_leaf(name, v.clone())));
    }
    let pk = obj.pk_value();
    let adding = obj.adding().unwrap_or(pk.is_null());
    if !pk.is_null() && !adding {
        qs = qs.exclude(Q::from_node(eq_leaf("pk", pk)));
    }
    qs.exists(ex)
}

/// Django's `capfirst`.
fn capfirst(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A field's label in messages: its verbose name, else its name with spaces.
fn label(f: &FieldMeta) -> String {
    if f.verbose_name.is_empty() {
        f.name.replace('_', " ")
    } else {
        f.verbose_name.to_owned()
    }
}

/// The model's label in messages.
fn model_label(meta: &ModelMeta) -> String {
    capfirst(if meta.verbose_name.is_empty() { meta.name } else { meta.verbose_name })
}

/// Django's `get_text_list(items, "and")`: `a, b and c`.
fn text_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Shows a value as Django's `%r` would.
fn shown(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("'{s}'"),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        other => format!("{other:?}"),
    }
}

/// Validates `obj` and returns every message, as [`Persist::full_clean`](crate::Persist::full_clean)
/// does, leaving out the fields named in `exclude` (Django's `full_clean(exclude=…)`).
pub(crate) fn full_clean<M: Model>(obj: &M, ex: &(impl Executor + ?Sized), exclude: &[&str]) -> Result<()> {
    let mut errors = ValidationErrors::new();
    clean_into(obj, ex, exclude, &mut errors)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::ValidationError(errors))
    }
}

/// Adds the messages of `obj`'s model (and, first, of its ancestors') to `errors`. The derive
/// calls this for the parent part of a multi-table child
/// ([`Model::full_clean_parent`]).
#[doc(hidden)]
pub fn clean_into<M: Model, E: Executor + ?Sized>(
    obj: &M,
    ex: &E,
    exclude: &[&str],
    errors: &mut ValidationErrors,
) -> Result<()> {
    obj.full_clean_parent(ex, exclude, errors)?;
    let meta = M::meta();
    let is_child = meta.parent().is_some();
    let skip = |f: &FieldMeta| exclude.contains(&f.name);
    // clean_fields
    for (i, f) in meta.fields.iter().enumerate() {
        if skip(f) || (is_child && i == meta.pk) {
            // The link to the parent row is set by saving, not by the user (Django's
            // parent_link is not editable).
            continue;
        }
        let v = obj.field_value(i);
        if v.is_null() {
            if !f.null && !f.auto && !f.blank {
                errors.add(f.name, "This field cannot be null.");
            }
            continue;
        }
        if let Value::Text(s) = &v {
            if s.is_empty() {
                if !f.blank {
                    errors.add(f.name, "This field cannot be blank.");
                }
                continue;
            }
            if let Some(max) = f.max_length {
                let n = s.chars().count();
                if n > max as usize {
                    errors.add(f.name, format!("Ensure this value has at most {max} characters (it has {n})."));
                }
            }
        }
        if !f.choices.is_empty() && !f.choices.iter().any(|c| c.value.matches(&v)) {
            errors.add(f.name, format!("Value {} is not a valid choice.", shown(&v)));
        }
    }
    obj.validate_fields(errors);
    for name in exclude {
        errors.fields.remove(*name);
    }
    // Foreign keys must point at a row (Django's ForeignKey.validate, through the target's
    // base manager: no default filter hides the row).
    for (i, f) in meta.fields.iter().enumerate() {
        let Some(rel) = f.relation.filter(|r| !r.parent_link) else { continue };
        if skip(f) || !errors.get(f.name).is_empty() {
            continue;
        }
        let v = obj.field_value(i);
        if v.is_null() {
            continue;
        }
        let target = (rel.target)().concrete();
        let to = match rel.to_field {
            Some(name) => target.field(name).ok_or_else(|| {
                Error::ImproperlyConfigured(format!("{}.{} points at unknown field `{name}`", meta.label(), f.name))
            })?,
            None => target.pk_field(),
        };
        if !crate::queryset::row_exists(ex, target.table, to.column, &v)? {
            errors.add(
                f.name,
                format!(
                    "{} instance with {} {} does not exist.",
                    if target.verbose_name.is_empty() { target.name } else { target.verbose_name },
                    to.name,
                    shown(&v)
                ),
            );
        }
    }
    // The model's own clean(), after the fields (Django's order).
    obj.clean(errors);
    // validate_unique: single fields keyed by the field, sets under __all__ (a set of one
    // under its field, as Django keys it).
    for (i, f) in meta.fields.iter().enumerate() {
        if !(f.unique || f.primary_key) || skip(f) || !errors.get(f.name).is_empty() || (is_child && i == meta.pk) {
            continue;
        }
        let v = obj.field_value(i);
        if v.is_null() {
            continue;
        }
        if taken(obj, ex, &[(f.name, v)])? {
            errors.add(f.name, format!("{} with this {} already exists.", model_label(meta), capfirst(&label(f))));
        }
    }
    for c in meta.constraints {
        let ConstraintMeta::Unique { fields, .. } = c else { continue };
        let mut values = Vec::with_capacity(fields.len());
        let mut labels = Vec::with_capacity(fields.len());
        let mut checkable = true;
        for name in *fields {
            let Some(i) = meta.field_index(name) else {
                return Err(Error::ImproperlyConfigured(format!(
                    "unique constraint `{}` of {} names unknown field `{name}`",
                    c.name(),
                    meta.label()
                )));
            };
            let f = &meta.fields[i];
            let v = obj.field_value(i);
            // NULLs never collide in a unique constraint; an excluded or already invalid
            // field leaves the set unchecked, as in Django.
            checkable &= !v.is_null() && !skip(f) && errors.get(f.name).is_empty();
            labels.push(capfirst(&label(f)));
            values.push((f.name, v));
        }
        if checkable && taken(obj, ex, &values)? {
            let key = if fields.len() == 1 { fields[0] } else { NON_FIELD_ERRORS };
            errors.add(key, format!("{} with this {} already exists.", model_label(meta), text_list(&labels)));
        }
    }
    // validate_constraints: each check evaluated by the database on the instance's values.
    for c in meta.constraints {
        let ConstraintMeta::Check { name, sql } = c else { continue };
        let involved: Vec<usize> = (0..meta.fields.len()).filter(|&i| mentions(sql, meta.fields[i].column)).collect();
        if involved.iter().any(|&i| skip(&meta.fields[i]) || !errors.get(meta.fields[i].name).is_empty()) {
            continue;
        }
        if violates(ex, meta, obj, sql, &involved)? {
            errors.add(NON_FIELD_ERRORS, format!("Constraint “{name}” is violated."));
        }
    }
    Ok(())
}

/// Does the check's SQL name `column` (as a whole word)?
fn mentions(sql: &str, column: &str) -> bool {
    let bytes = sql.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    sql.match_indices(column).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + column.len()).copied();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Does the instance break the check `sql`? The database evaluates it over a one-row derived
/// table whose columns carry the instance's values as parameters (typed with the column's
/// type on PostgreSQL, which does not guess a parameter's type from its use): `SELECT 1 FROM
/// (SELECT CAST($1 AS integer) AS "qty") "t" WHERE NOT (qty >= 0)`. NULL passes, as in a
/// CHECK constraint.
fn violates<M: Model>(
    ex: &(impl Executor + ?Sized),
    meta: &ModelMeta,
    obj: &M,
    check: &str,
    involved: &[usize],
) -> Result<bool> {
    let d = ex.dialect();
    let mut sql = String::from("SELECT 1 FROM (SELECT ");
    let mut params = Vec::with_capacity(involved.len());
    for (n, &i) in involved.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        let f = &meta.fields[i];
        if d == Dialect::Postgres {
            sql.push_str("CAST(");
            d.write_placeholder(&mut sql, n + 1);
            sql.push_str(" AS ");
            sql.push_str(&orm_backends::schema::column_type_sql(&f.kind.to_column_type(), d));
            sql.push(')');
        } else {
            d.write_placeholder(&mut sql, n + 1);
        }
        sql.push_str(" AS ");
        d.write_ident(&mut sql, f.column);
        params.push(obj.field_value(i));
    }
    if involved.is_empty() {
        sql.push('1');
    }
    sql.push_str(") ");
    d.write_ident(&mut sql, "orm_check");
    sql.push_str(" WHERE NOT (");
    sql.push_str(check);
    sql.push(')');
    Ok(ex.with_connection(|c| c.query_opt(&sql, &params))?.is_some())
}

/// Text a field validator can look at: a `String`, or an `Option<String>` (`None` passes;
/// Django skips validators on empty values).
pub trait ValidatedText {
    /// The text, if there is any.
    fn text(&self) -> Option<&str>;
}

impl ValidatedText for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl ValidatedText for str {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: ValidatedText> ValidatedText for Option<T> {
    fn text(&self) -> Option<&str> {
        self.as_ref().and_then(ValidatedText::text)
    }
}

/// Django's `validate_email` (EmailField): a local part, `@`, and a domain of dot-separated
/// labels (or a bracketed IP literal). Use it as `#[orm(validators = [orm::validation::validate_email])]`.
///
/// ```
/// use orm::validation::validate_email;
/// assert!(validate_email("ann@example.com").is_ok());
/// assert_eq!(validate_email("ann@").unwrap_err(), "Enter a valid email address.");
/// ```
pub fn validate_email<T: ValidatedText + ?Sized>(value: &T) -> std::result::Result<(), String> {
    let Some(s) = value.text().filter(|s| !s.is_empty()) else { return Ok(()) };
    let bad = || Err("Enter a valid email address.".to_owned());
    if s.len() > 320 {
        return bad();
    }
    let Some((user, domain)) = s.rsplit_once('@') else { return bad() };
    let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let user_ok = if let Some(quoted) = user.strip_prefix('"').and_then(|u| u.strip_suffix('"')) {
        !quoted.is_empty() && quoted.chars().all(|c| c != '"' && !c.is_control())
    } else {
        !user.is_empty() && user.split('.').all(|part| !part.is_empty() && part.chars().all(atom))
    };
    let domain_ok = domain.starts_with('[') && domain.ends_with(']') && domain.len() > 2 || is_domain(domain, true);
    if user_ok && domain_ok {
        Ok(())
    } else {
        bad()
    }
}

/// A host name of dot-separated labels (letters, digits, inner hyphens; non-ASCII letters
/// allowed, as Django's IDNA check does); `need_tld` asks for at least two labels with a
/// non-numeric last one.
fn is_domain(host: &str, need_tld: bool) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-' || (!c.is_ascii() && !c.is_whitespace()))
    };
    if host.is_empty() || !labels.iter().all(label_ok) {
        return false;
    }
    !need_tld || (labels.len() >= 2 && labels.last().is_some_and(|t| t.chars().any(|c| !c.is_ascii_digit())))
}

/// Django's `URLValidator` (URLField): `http`, `https`, `ftp` or `ftps`, a host (a domain
/// with a top-level label, `localhost`, or an IPv4 or bracketed IPv6 address), an optional
/// port, then anything without spaces.
///
/// ```
/// use orm::validation::validate_url;
/// assert!(validate_url("https://example.com:8080/a?b=c#d").is_ok());
/// assert_eq!(validate_url("example.com").unwrap_err(), "Enter a valid URL.");
/// ```
pub fn validate_url<T: ValidatedText + ?Sized>(value: &T) -> std::result::Result<(), String> {
    let Some(s) = value.text().filter(|s| !s.is_empty()) else { return Ok(()) };
    let bad = || Err("Enter a valid URL.".to_owned());
    if s.len() > 2048 || s.chars().any(char::is_whitespace) {
        return bad();
    }
    let Some((scheme, rest)) = s.split_once("://") else { return bad() };
    if !["http", "https", "ftp", "ftps"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return bad();
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, tail)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => (addr, tail.strip_prefix(':')),
            _ => return bad(),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit())) {
        return bad();
    }
    let host_ok = host_port.starts_with('[')
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::Ipv4Addr>().is_ok()
        || is_domain(host, true);
    if host_ok {
        Ok(())
    } else {
        bad()
    }
}

/// Django's `validate_slug` (SlugField): letters, numbers, underscores or hyphens (ASCII).
///
/// ```
/// use orm::validation::validate_slug;
/// assert!(validate_slug("a-valid_slug-2").is_ok());
/// assert!(validate_slug("not a slug").is_err());
/// ```
pub fn validate_slug<T: ValidatedText + ?Sized>(value: &T) -> std::result::Result<(), String> {
    let Some(s) = value.text().filter(|s| !s.is_empty()) else { return Ok(()) };
    if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err("Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_as_django_judges_them() {
        for ok in [
            "email@here.com",
            "weirder-email@here.and.there.com",
            "example@valid-----hyphens.com",
            "\"quoted local\"@here.com",
            "email@[127.0.0.1]",
            "test@domain.with.idn.tld.उदाहरण.परीक्षा",
            "a.b@c.de",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "abc@",
            "abc@bar",
            "a @x.cz",
            "abc@.com",
            "something@@somewhere.com",
            "email@127.0.0.1",
            "example@invalid-.com",
            "example@-invalid.com",
            "a..b@c.de",
            "trailingdot.@example.com",
        ] {
            if bad.is_empty() {
                assert!(validate_email(bad).is_ok(), "empty values are not validated");
            } else {
                assert!(validate_email(bad).is_err(), "{bad}");
            }
        }
        assert!(validate_email(&None::<String>).is_ok());
    }

    #[test]
    fn urls_as_django_judges_them() {
        for ok in [
            "http://www.djangoproject.com/",
            "HTTP://WWW.DJANGOPROJECT.COM/",
            "http://localhost/",
            "http://example.com:8000/",
            "http://200.8.9.10:8000/test",
            "https://[2001:db8::1]:443/x",
            "ftp://example.com/file",
            "http://user:pass@example.com/",
        ] {
            assert!(validate_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "no_scheme",
            "foo",
            "http://",
            "http://example",
            "http://-invalid.com",
            "http://inv-.alid-.com",
            "http://a b.com",
            "mailto:x@y.z",
            "http://[::1:2::3]/",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs() {
        assert!(validate_slug("slug-ok_1").is_ok());
        assert!(validate_slug("some@mail.com").is_err());
        assert!(validate_slug("你好").is_err());
    }
}
