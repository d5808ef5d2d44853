//! Typed container and field attributes, each value keeping its span for error messages.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprArray, Lit, LitInt, LitStr, Path, Result};

/// A value with the span of the tokens it came from.
#[derive(Clone)]
pub(crate) struct Spanned_<T> {
    pub value: T,
    pub span: Span,
}

/// A named index or constraint over fields.
pub(crate) struct NamedFields {
    pub name: Option<String>,
    pub fields: Vec<LitStr>,
}

pub(crate) struct Check {
    pub name: String,
    pub sql: String,
}

#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub app: Option<LitStr>,
    pub table: Option<LitStr>,
    pub ordering: Option<Vec<LitStr>>,
    pub indexes: Vec<NamedFields>,
    pub uniques: Vec<NamedFields>,
    pub checks: Vec<Check>,
    pub is_abstract: Option<Span>,
    pub proxy: Option<Span>,
    pub verbose_name: Option<LitStr>,
    pub renamed_from: Option<LitStr>,
    pub manager: Option<Path>,
    pub select_on_save: Option<Span>,
    pub clean: Option<Path>,
    pub natural_key: Option<Vec<LitStr>>,
}

pub(crate) enum Choice {
    Str(String, String),
    Int(i64, String),
}

pub(crate) enum Default_ {
    Literal(Lit),
    Callable(Path),
}

#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub column: Option<LitStr>,
    pub primary_key: Option<Span>,
    pub unique: Option<Span>,
    pub index: Option<Span>,
    /// `index = false`: a relation column without its own index (Django's `db_index=False`).
    pub no_index: Option<Span>,
    pub default: Option<Spanned_<Default_>>,
    pub max_length: Option<Spanned_<u32>>,
    pub max_digits: Option<Spanned_<u8>>,
    pub decimal_places: Option<Spanned_<u8>>,
    pub choices: Vec<Choice>,
    pub db_type: Option<LitStr>,
    pub help_text: Option<LitStr>,
    pub verbose_name: Option<LitStr>,
    pub blank: Option<Span>,
    pub skip: Option<Span>,
    pub auto_now: Option<Span>,
    pub auto_now_add: Option<Span>,
    pub on_delete: Option<syn::Ident>,
    pub related_name: Option<LitStr>,
    /// `related_query_name = "…"`: the name lookups use from the target.
    pub related_query_name: Option<LitStr>,
    pub to_field: Option<LitStr>,
    pub through: Option<Path>,
    /// `symmetrical = true|false` on a many-to-many to the same model (Django's default: true).
    pub symmetrical: Option<syn::LitBool>,
    pub validators: Vec<Path>,
    pub base: Option<Span>,
    pub parent: Option<Span>,
    pub renamed_from: Option<LitStr>,
}

fn str_list(expr: &Expr, what: &str) -> Result<Vec<LitStr>> {
    match expr {
        Expr::Array(ExprArray { elems, .. }) => elems
            .iter()
            .map(|e| match e {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(s.clone()),
                other => Err(syn::Error::new(other.span(), format!("expected a string literal in {what}"))),
            })
            .collect(),
        other => Err(syn::Error::new(other.span(), format!("expected a list of strings: {what} = [\"a\", \"b\"]"))),
    }
}

fn list_of_lists(expr: &Expr, what: &str) -> Result<Vec<Vec<LitStr>>> {
    match expr {
        Expr::Array(ExprArray { elems, .. }) => elems.iter().map(|e| str_list(e, what)).collect(),
        other => Err(syn::Error::new(other.span(), format!("expected a list of lists: {what} = [[\"a\", \"b\"]]"))),
    }
}

fn flag(slot: &mut Option<Span>, meta: &ParseNestedMeta<'_>) -> Result<()> {
    if slot.is_some() {
        return Err(meta.error("duplicate option"));
    }
    *slot = Some(meta.path.span());
    Ok(())
}

fn lit_str(meta: &ParseNestedMeta<'_>) -> Result<LitStr> {
    meta.value()?.parse::<LitStr>()
}

fn named_fields(meta: &ParseNestedMeta<'_>, what: &str) -> Result<NamedFields> {
    let mut nf = NamedFields { name: None, fields: Vec::new() };
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("name") {
            nf.name = Some(lit_str(&inner)?.value());
        } else if inner.path.is_ident("fields") {
            let expr: Expr = inner.value()?.parse()?;
            nf.fields = str_list(&expr, "fields")?;
        } else {
            return Err(inner
                .error(format!("unknown option of {what}; expected {what}(name = \"…\", fields = [\"a\", \"b\"])")));
        }
        Ok(())
    })?;
    if nf.fields.is_empty() {
        return Err(meta.error(format!("{what} needs fields: {what}(name = \"…\", fields = [\"a\", \"b\"])")));
    }
    Ok(nf)
}

pub(crate) fn parse_container(attrs: &[Attribute]) -> Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    let mut errors: Option<syn::Error> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("orm")) {
        let r = attr.parse_nested_meta(|meta| {
            let p = &meta.path;
            if p.is_ident("app") {
                out.app = Some(lit_str(&meta)?);
            } else if p.is_ident("table") {
                out.table = Some(lit_str(&meta)?);
            } else if p.is_ident("ordering") {
                let e: Expr = meta.value()?.parse()?;
                out.ordering = Some(str_list(&e, "ordering")?);
            } else if p.is_ident("indexes") {
                let e: Expr = meta.value()?.parse()?;
                for fields in list_of_lists(&e, "indexes")? {
                    out.indexes.push(NamedFields { name: None, fields });
                }
            } else if p.is_ident("unique_together") {
                let e: Expr = meta.value()?.parse()?;
                for fields in list_of_lists(&e, "unique_together")? {
                    out.uniques.push(NamedFields { name: None, fields });
                }
            } else if p.is_ident("index") {
                out.indexes.push(named_fields(&meta, "index")?);
            } else if p.is_ident("unique") {
                out.uniques.push(named_fields(&meta, "unique")?);
            } else if p.is_ident("check") {
                let mut name = None;
                let mut sql = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("name") {
                        name = Some(lit_str(&inner)?.value());
                    } else if inner.path.is_ident("sql") {
                        sql = Some(lit_str(&inner)?.value());
                    } else {
                        return Err(inner.error("unknown option of check; expected check(name = \"…\", sql = \"…\")"));
                    }
                    Ok(())
                })?;
                match (name, sql) {
                    (Some(name), Some(sql)) => out.checks.push(Check { name, sql }),
                    _ => return Err(meta.error("check needs a name and sql: check(name = \"…\", sql = \"…\")")),
                }
            } else if p.is_ident("abstract") {
                flag(&mut out.is_abstract, &meta)?;
            } else if p.is_ident("proxy") {
                flag(&mut out.proxy, &meta)?;
            } else if p.is_ident("verbose_name") {
                out.verbose_name = Some(lit_str(&meta)?);
            } else if p.is_ident("renamed_from") {
                out.renamed_from = Some(lit_str(&meta)?);
            } else if p.is_ident("manager") {
                out.manager = Some(meta.value()?.parse()?);
            } else if p.is_ident("natural_key") {
                let e: Expr = meta.value()?.parse()?;
                out.natural_key = Some(str_list(&e, "natural_key")?);
            } else if p.is_ident("clean") {
                out.clean = Some(meta.value()?.parse()?);
            } else if p.is_ident("select_on_save") {
                flag(&mut out.select_on_save, &meta)?;
            } else {
                return Err(meta.error(
                    "unknown model option; expected one of: app, table, ordering, indexes, index, unique_together, \
                     unique, check, abstract, manager, verbose_name, renamed_from, select_on_save, clean, natural_key",
                ));
            }
            Ok(())
        });
        if let Err(e) = r {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn int_lit<T: std::str::FromStr>(meta: &ParseNestedMeta<'_>) -> Result<Spanned_<T>>
where
    T::Err: std::fmt::Display,
{
    let lit: LitInt = meta.value()?.parse()?;
    Ok(Spanned_ { value: lit.base10_parse()?, span: lit.span() })
}

fn parse_choices(expr: &Expr) -> Result<Vec<Choice>> {
    let Expr::Array(arr) = expr else {
        return Err(syn::Error::new(
            expr.span(),
            "expected a list: choices = [(\"d\", \"Draft\"), ...] or [\"a\", \"b\"]",
        ));
    };
    let mut out = Vec::new();
    for e in &arr.elems {
        let (value, label) = match e {
            Expr::Tuple(t) if t.elems.len() == 2 => (&t.elems[0], Some(&t.elems[1])),
            other => (other, None),
        };
        let label = match label {
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. })) => Some(s.value()),
            Some(other) => return Err(syn::Error::new(other.span(), "a choice's label is a string literal")),
            None => None,
        };
        match value {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                let l = label.unwrap_or_else(|| s.value());
                out.push(Choice::Str(s.value(), l));
            }
            Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => {
                let v: i64 = i.base10_parse()?;
                out.push(Choice::Int(v, label.unwrap_or_else(|| v.to_string())));
            }
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => match &*u.expr {
                Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => {
                    let v: i64 = -i.base10_parse::<i64>()?;
                    out.push(Choice::Int(v, label.unwrap_or_else(|| v.to_string())));
                }
                other => return Err(syn::Error::new(other.span(), "a choice's value is a string or integer literal")),
            },
            other => return Err(syn::Error::new(other.span(), "a choice's value is a string or integer literal")),
        }
    }
    Ok(out)
}

pub(crate) fn parse_field(attrs: &[Attribute]) -> Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    let mut errors: Option<syn::Error> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("orm")) {
        let r = attr.parse_nested_meta(|meta| {
            let p = &meta.path;
            if p.is_ident("column") {
                out.column = Some(lit_str(&meta)?);
            } else if p.is_ident("primary_key") {
                flag(&mut out.primary_key, &meta)?;
            } else if p.is_ident("unique") {
                flag(&mut out.unique, &meta)?;
            } else if p.is_ident("index") || p.is_ident("db_index") {
                // `index`, `index = true`, or `index = false` (a relation without its own index).
                let on = if meta.input.peek(syn::Token![=]) {
                    match meta.value()?.parse::<Lit>()? {
                        Lit::Bool(b) => b.value,
                        other => return Err(syn::Error::new(other.span(), "expected `true` or `false`")),
                    }
                } else {
                    true
                };
                if out.index.is_some() || out.no_index.is_some() {
                    return Err(meta.error("duplicate option"));
                }
                if on {
                    out.index = Some(p.span());
                } else {
                    out.no_index = Some(p.span());
                }
            } else if p.is_ident("default") {
                let e: Expr = meta.value()?.parse()?;
                let span = e.span();
                let d = match e {
                    Expr::Lit(l) => Default_::Literal(l.lit),
                    Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match *expr {
                        Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => {
                            Default_::Literal(Lit::Int(LitInt::new(&format!("-{}", i.base10_digits()), i.span())))
                        }
                        Expr::Lit(syn::ExprLit { lit: Lit::Float(f), .. }) => Default_::Literal(Lit::Float(
                            syn::LitFloat::new(&format!("-{}", f.base10_digits()), f.span()),
                        )),
                        other => return Err(syn::Error::new(other.span(), "expected a literal or a function path")),
                    },
                    Expr::Path(p) => Default_::Callable(p.path),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "expected a literal (default = 0) or a function path (default = my_default)",
                        ))
                    }
                };
                out.default = Some(Spanned_ { value: d, span });
            } else if p.is_ident("max_length") {
                out.max_length = Some(int_lit(&meta)?);
            } else if p.is_ident("max_digits") {
                out.max_digits = Some(int_lit(&meta)?);
            } else if p.is_ident("decimal_places") {
                out.decimal_places = Some(int_lit(&meta)?);
            } else if p.is_ident("choices") {
                let e: Expr = meta.value()?.parse()?;
                out.choices = parse_choices(&e)?;
            } else if p.is_ident("db_type") {
                out.db_type = Some(lit_str(&meta)?);
            } else if p.is_ident("help_text") {
                out.help_text = Some(lit_str(&meta)?);
            } else if p.is_ident("verbose_name") {
                out.verbose_name = Some(lit_str(&meta)?);
            } else if p.is_ident("blank") {
                flag(&mut out.blank, &meta)?;
            } else if p.is_ident("skip") {
                flag(&mut out.skip, &meta)?;
            } else if p.is_ident("auto_now") {
                flag(&mut out.auto_now, &meta)?;
            } else if p.is_ident("auto_now_add") {
                flag(&mut out.auto_now_add, &meta)?;
            } else if p.is_ident("on_delete") {
                let id: syn::Ident = meta.value()?.parse()?;
                const MODES: [&str; 9] = [
                    "Cascade",
                    "Protect",
                    "Restrict",
                    "SetNull",
                    "SetDefault",
                    "DoNothing",
                    "DbCascade",
                    "DbSetNull",
                    "DbSetDefault",
                ];
                if !MODES.contains(&id.to_string().as_str()) {
                    return Err(syn::Error::new(
                        id.span(),
                        format!("unknown on_delete mode; expected one of {}", MODES.join(", ")),
                    ));
                }
                out.on_delete = Some(id);
            } else if p.is_ident("related_name") {
                out.related_name = Some(lit_str(&meta)?);
            } else if p.is_ident("related_query_name") {
                out.related_query_name = Some(lit_str(&meta)?);
            } else if p.is_ident("to_field") {
                out.to_field = Some(lit_str(&meta)?);
            } else if p.is_ident("through") {
                out.through = Some(meta.value()?.parse()?);
            } else if p.is_ident("symmetrical") {
                out.symmetrical = Some(meta.value()?.parse()?);
            } else if p.is_ident("validators") {
                let e: Expr = meta.value()?.parse()?;
                let Expr::Array(arr) = e else {
                    return Err(syn::Error::new(
                        e.span(),
                        "expected a list of functions: validators = [check_a, check_b]",
                    ));
                };
                for v in arr.elems {
                    match v {
                        Expr::Path(p) => out.validators.push(p.path),
                        other => return Err(syn::Error::new(other.span(), "a validator is a function path")),
                    }
                }
            } else if p.is_ident("base") {
                flag(&mut out.base, &meta)?;
            } else if p.is_ident("parent") {
                flag(&mut out.parent, &meta)?;
            } else if p.is_ident("renamed_from") {
                out.renamed_from = Some(lit_str(&meta)?);
            } else {
                return Err(meta.error(
                    "unknown field option; expected one of: column, primary_key, unique, index, index = false, default, max_length, \
                     max_digits, decimal_places, choices, db_type, help_text, verbose_name, blank, skip, auto_now, \
                     auto_now_add, on_delete, related_name, related_query_name, to_field, through, symmetrical, validators, base, renamed_from",
                ));
            }
            Ok(())
        });
        if let Err(e) = r {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
