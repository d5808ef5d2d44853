//! `#[derive(Model)]`: parse → validate → expand.

mod attrs;
mod expand;

use crate::naming::snake_case;
use attrs::{ContainerAttrs, FieldAttrs};
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

/// A relation stored in a column.
pub(crate) struct Relation {
    pub one_to_one: bool,
    pub target: Type,
}

/// What a struct field is, once classified.
pub(crate) enum FieldKind {
    /// One column.
    Column { relation: Option<Relation>, nullable: bool },
    /// A many-to-many relation: no column.
    ManyToMany { target: Type },
    /// The cache of a reverse relation (`Reverse<T>`): no column.
    Reverse,
    /// The cache of a reverse one-to-one relation (`ReverseOne<T>`): no column.
    ReverseOne,
    /// An embedded abstract base: its columns in place.
    Base,
    /// The embedded concrete parent of a multi-table child or a proxy.
    Parent,
    /// The `ModelState` field.
    State,
    /// Not stored.
    Skip,
}

pub(crate) struct FieldDef {
    pub ident: Ident,
    pub ty: Type,
    pub attrs: FieldAttrs,
    pub kind: FieldKind,
    pub name: String,
    pub column: String,
    pub primary_key: bool,
}

pub(crate) struct ModelDef {
    /// The embedded parent field (multi-table child or proxy).
    pub parent: Option<usize>,
    pub is_proxy: bool,
    pub ident: Ident,
    pub attrs: ContainerAttrs,
    pub fields: Vec<FieldDef>,
    pub is_abstract: bool,
    pub snake: String,
}

/// The last path segment of a type and its single generic argument, if any.
pub(crate) fn last_segment(ty: &Type) -> Option<(&Ident, Option<&Type>)> {
    let Type::Path(tp) = ty else { return None };
    if tp.qself.is_some() {
        return None;
    }
    let seg = tp.path.segments.last()?;
    let arg = match &seg.arguments {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match a.args.first() {
            Some(GenericArgument::Type(t)) => Some(t),
            _ => None,
        },
        _ => None,
    };
    Some((&seg.ident, arg))
}

fn classify(ty: &Type) -> FieldKind {
    let (nullable, inner) = match last_segment(ty) {
        Some((id, Some(inner))) if id == "Option" => (true, inner),
        _ => (false, ty),
    };
    match last_segment(inner) {
        Some((id, Some(target))) if id == "ForeignKey" || id == "OneToOne" => FieldKind::Column {
            relation: Some(Relation { one_to_one: id == "OneToOne", target: target.clone() }),
            nullable,
        },
        Some((id, Some(target))) if id == "ManyToMany" && !nullable => FieldKind::ManyToMany { target: target.clone() },
        Some((id, Some(_))) if id == "Reverse" && !nullable => FieldKind::Reverse,
        Some((id, Some(_))) if id == "ReverseOne" && !nullable => FieldKind::ReverseOne,
        Some((id, None)) if id == "ModelState" && !nullable => FieldKind::State,
        _ => FieldKind::Column { relation: None, nullable },
    }
}

fn push(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

fn parse(input: DeriveInput) -> syn::Result<ModelDef> {
    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[derive(Model)] needs a struct with named fields, like `struct Post { id: Auto<i64>, ... }`",
                ))
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                "#[derive(Model)] needs a struct with named fields, not an enum",
            ))
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "#[derive(Model)] needs a struct with named fields, not a union",
            ))
        }
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "a model cannot be generic"));
    }
    let mut errors = None;
    let attrs = match attrs::parse_container(&input.attrs) {
        Ok(a) => a,
        Err(e) => {
            push(&mut errors, e);
            ContainerAttrs::default()
        }
    };
    let mut fields = Vec::new();
    for f in &named.named {
        let ident = f.ident.clone().expect("named fields have names");
        let fattrs = match attrs::parse_field(&f.attrs) {
            Ok(a) => a,
            Err(e) => {
                push(&mut errors, e);
                continue;
            }
        };
        let kind = if fattrs.skip.is_some() {
            FieldKind::Skip
        } else if fattrs.base.is_some() {
            FieldKind::Base
        } else if fattrs.parent.is_some() {
            FieldKind::Parent
        } else {
            classify(&f.ty)
        };
        let name = ident.to_string().trim_start_matches("r#").to_owned();
        let column = match (&fattrs.column, &kind) {
            (Some(c), _) => c.value(),
            (None, FieldKind::Column { relation: Some(_), .. }) => format!("{name}_id"),
            (None, _) => name.clone(),
        };
        fields.push(FieldDef {
            ident,
            ty: f.ty.clone(),
            primary_key: fattrs.primary_key.is_some(),
            attrs: fattrs,
            kind,
            name,
            column,
        });
    }
    let is_abstract = attrs.is_abstract.is_some();
    let snake = snake_case(&input.ident.to_string());
    let parent = fields.iter().position(|f| matches!(f.kind, FieldKind::Parent));
    let is_proxy = attrs.proxy.is_some();
    let mut def = ModelDef { parent, is_proxy, ident: input.ident, attrs, fields, is_abstract, snake };
    validate(&mut def, &mut errors);
    match errors {
        Some(e) => Err(e),
        None => Ok(def),
    }
}

fn validate(def: &mut ModelDef, errors: &mut Option<syn::Error>) {
    let parents: Vec<&FieldDef> = def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Parent)).collect();
    for extra in parents.iter().skip(1) {
        push(
            errors,
            syn::Error::new(extra.ident.span(), "a model has at most one `parent`; combine abstract bases with `base`"),
        );
    }
    if def.is_abstract {
        if let Some(p) = parents.first() {
            push(errors, syn::Error::new(p.ident.span(), "an abstract model cannot have a concrete `parent`"));
        }
    }
    if let Some(span) = def.attrs.proxy {
        if parents.is_empty() {
            push(
                errors,
                syn::Error::new(span, "a proxy needs the model it proxies: `#[orm(parent)] pub base: Concrete`"),
            );
        }
        for f in &def.fields {
            if matches!(f.kind, FieldKind::Column { .. } | FieldKind::ManyToMany { .. } | FieldKind::Base) {
                push(
                    errors,
                    syn::Error::new(
                        f.ident.span(),
                        "a proxy adds no fields (it shares its model's table); mark it #[orm(skip)]",
                    ),
                );
            }
        }
    }
    if !parents.is_empty() {
        // A multi-table child's key is its link to the parent row; a proxy's is its model's.
        for f in def.fields.iter().filter(|f| f.primary_key) {
            let span = f.attrs.primary_key.unwrap_or_else(Span::call_site);
            push(
                errors,
                syn::Error::new(span, "a model with a `parent` uses the parent's primary key; remove this one"),
            );
        }
        if let Some(id) = def.fields.iter().find(|f| f.name == "id" && matches!(f.kind, FieldKind::Column { .. })) {
            push(errors, syn::Error::new(id.ident.span(), "`id` clashes with the parent's primary key; rename it"));
        }
        validate_columns(def, errors);
        return;
    }
    // Exactly one primary key (an `id` field by default) on concrete models; none on abstract.
    let pks: Vec<usize> = def.fields.iter().enumerate().filter(|(_, f)| f.primary_key).map(|(i, _)| i).collect();
    if def.is_abstract {
        for &i in &pks {
            let span = def.fields[i].attrs.primary_key.unwrap_or_else(Span::call_site);
            push(
                errors,
                syn::Error::new(
                    span,
                    "an abstract model cannot declare the primary key; declare it in each concrete model",
                ),
            );
        }
    } else if pks.len() > 1 {
        for &i in &pks[1..] {
            let span = def.fields[i].attrs.primary_key.unwrap_or_else(Span::call_site);
            push(
                errors,
                syn::Error::new(span, format!("a model has one primary key; `{}` already is", def.fields[pks[0]].name)),
            );
        }
    } else if pks.is_empty() {
        match def.fields.iter_mut().find(|f| f.name == "id" && matches!(f.kind, FieldKind::Column { .. })) {
            Some(id) => id.primary_key = true,
            None => push(
                errors,
                syn::Error::new(
                    def.ident.span(),
                    "a model needs a primary key: declare `pub id: Auto<i64>` or mark a field #[orm(primary_key)]",
                ),
            ),
        }
    }
    validate_columns(def, errors);
}

fn validate_columns(def: &ModelDef, errors: &mut Option<syn::Error>) {
    let mut columns: Vec<(&str, Span)> = Vec::new();
    for f in &def.fields {
        let a = &f.attrs;
        let is_rel = matches!(f.kind, FieldKind::Column { relation: Some(_), .. });
        let is_m2m = matches!(f.kind, FieldKind::ManyToMany { .. });
        if !is_rel {
            if let Some(od) = &a.on_delete {
                push(errors, syn::Error::new(od.span(), "on_delete applies only to ForeignKey and OneToOne fields"));
            }
            if let Some(tf) = &a.to_field {
                push(errors, syn::Error::new(tf.span(), "to_field applies only to ForeignKey and OneToOne fields"));
            }
            if let Some(ni) = a.no_index {
                push(
                    errors,
                    syn::Error::new(
                        ni,
                        "index = false applies only to ForeignKey and OneToOne fields (other fields have no index unless `index`)",
                    ),
                );
            }
        }
        if !is_rel && !is_m2m {
            if let Some(rn) = &a.related_name {
                push(errors, syn::Error::new(rn.span(), "related_name applies only to relation fields"));
            }
            if let Some(rn) = &a.related_query_name {
                push(errors, syn::Error::new(rn.span(), "related_query_name applies only to relation fields"));
            }
        }
        if !is_m2m {
            if let Some(t) = &a.through {
                push(errors, syn::Error::new(t.span(), "through applies only to ManyToMany fields"));
            }
        }
        if let (FieldKind::Column { relation: Some(_), nullable: false }, Some(od)) = (&f.kind, &a.on_delete) {
            if od == "SetNull" || od == "DbSetNull" {
                push(
                    errors,
                    syn::Error::new(
                        od.span(),
                        format!("on_delete = {od} needs a nullable relation: Option<ForeignKey<…>>"),
                    ),
                );
            }
        }
        if matches!(f.kind, FieldKind::Base) && f.attrs.column.is_some() {
            push(errors, syn::Error::new(f.ident.span(), "an embedded base has no column of its own"));
        }
        if let FieldKind::Column { .. } = f.kind {
            if let Some((_, prev)) = columns.iter().find(|(c, _)| *c == f.column) {
                let mut e = syn::Error::new(f.ident.span(), format!("column `{}` is used twice", f.column));
                e.combine(syn::Error::new(*prev, "first used here"));
                push(errors, e);
            } else {
                columns.push((&f.column, f.ident.span()));
            }
        }
    }
}

pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let vis = input.vis.clone();
    let def = parse(input)?;
    let mut out = expand::expand(&def);
    if !def.is_abstract {
        out.extend(expand::constructor(&def, &vis));
    }
    Ok(out)
}
