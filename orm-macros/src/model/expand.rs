//! Code generation: the `Model` (or `AbstractModel`) impl with its static metadata, the
//! index-based row decoder, field access by index, and typed field handles.

use super::attrs::{Choice, Default_};
use super::{FieldDef, FieldKind, ModelDef};
use crate::naming::snake_case;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

fn opt_str(v: Option<String>) -> TokenStream {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn type_ident_snake(ty: &Type) -> String {
    match ty {
        Type::Path(tp) => tp.path.segments.last().map(|s| snake_case(&s.ident.to_string())).unwrap_or_default(),
        _ => String::from("target"),
    }
}

/// The column kind expression of a column field, with `max_length` / decimal options applied.
fn kind_expr(f: &FieldDef) -> TokenStream {
    let ty = &f.ty;
    let mut kind = quote_spanned!(ty.span()=> ::orm::__private::kind_of::<#ty>());
    if let Some(n) = &f.attrs.max_length {
        let n = n.value;
        kind = quote!(#kind.with_max_length(#n));
    }
    if f.attrs.max_digits.is_some() || f.attrs.decimal_places.is_some() {
        let p = f.attrs.max_digits.as_ref().map(|s| s.value).unwrap_or(19);
        let s = f.attrs.decimal_places.as_ref().map(|s| s.value).unwrap_or(4);
        kind = quote!(#kind.with_decimal(#p, #s));
    }
    kind
}

/// Compile-time checks, each spanned on the tokens it is about.
fn assertions(f: &FieldDef) -> TokenStream {
    let ty = &f.ty;
    let mut out = TokenStream::new();
    match &f.kind {
        FieldKind::Column { relation, .. } => {
            out.extend(quote_spanned!(ty.span()=> const _: () = ::orm::__private::assert_field_type::<#ty>();));
            if let Some(rel) = relation {
                let t = &rel.target;
                out.extend(quote_spanned!(t.span()=> const _: () = ::orm::__private::assert_model::<#t>();));
            }
            if let Some(ml) = &f.attrs.max_length {
                out.extend(quote_spanned!(ml.span=> const _: () = ::orm::__private::assert_text::<#ty>();));
            }
            if let Some(s) =
                f.attrs.max_digits.as_ref().map(|s| s.span).or(f.attrs.decimal_places.as_ref().map(|s| s.span))
            {
                out.extend(quote_spanned!(s=> const _: () = ::orm::__private::assert_decimal::<#ty>();));
            }
            for span in [f.attrs.auto_now, f.attrs.auto_now_add].into_iter().flatten() {
                out.extend(quote_spanned!(span=> const _: fn() -> #ty = <#ty as ::orm::__private::NowField>::now;));
            }
        }
        FieldKind::ManyToMany { target } => {
            out.extend(quote_spanned!(target.span()=> const _: () = ::orm::__private::assert_model::<#target>();));
        }
        FieldKind::Base => {
            out.extend(quote_spanned!(ty.span()=> const _: () = ::orm::__private::assert_abstract::<#ty>();));
        }
        _ => {}
    }
    out
}

fn field_meta(f: &FieldDef, inherited_from: &TokenStream) -> TokenStream {
    let ty = &f.ty;
    let (name, column) = (&f.name, &f.column);
    let kind = kind_expr(f);
    let a = &f.attrs;
    let pk = f.primary_key;
    let unique = a.unique.is_some();
    let index = a.index.is_some();
    let blank = a.blank.is_some();
    let max_length = match &a.max_length {
        Some(n) => {
            let n = n.value;
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    };
    let default = match &a.default {
        None => quote!(::core::option::Option::None),
        Some(d) => match &d.value {
            Default_::Literal(lit) => quote_spanned! {d.span=> ::core::option::Option::Some({
                fn __orm_default() -> ::orm::Value {
                    let v: <#ty as ::orm::FieldType>::Lookup = ::core::convert::Into::into(#lit);
                    ::orm::ToValue::to_value(&v)
                }
                ::orm::meta::DefaultMeta::Literal(__orm_default)
            })},
            Default_::Callable(path) => quote_spanned! {d.span=> ::core::option::Option::Some({
                fn __orm_default() -> ::orm::Value {
                    let v: #ty = ::core::convert::Into::into(#path());
                    ::orm::ToValue::to_value(&v)
                }
                ::orm::meta::DefaultMeta::Callable(__orm_default)
            })},
        },
    };
    let choices = a.choices.iter().map(|c| match c {
        Choice::Str(v, l) => quote!(::orm::meta::Choice { value: ::orm::meta::ChoiceValue::Str(#v), label: #l }),
        Choice::Int(v, l) => quote!(::orm::meta::Choice { value: ::orm::meta::ChoiceValue::Int(#v), label: #l }),
    });
    let db_type = opt_str(a.db_type.as_ref().map(|s| s.value()));
    let help = a.help_text.as_ref().map(|s| s.value()).unwrap_or_default();
    let verbose = a.verbose_name.as_ref().map(|s| s.value()).unwrap_or_default();
    let auto_now = a.auto_now.is_some();
    let auto_now_add = a.auto_now_add.is_some();
    let renamed = opt_str(a.renamed_from.as_ref().map(|s| s.value()));
    let relation = match &f.kind {
        FieldKind::Column { relation: Some(rel), .. } => {
            let t = &rel.target;
            let kind = if rel.one_to_one { quote!(OneToOne) } else { quote!(ForeignKey) };
            let on_delete = a.on_delete.clone().unwrap_or_else(|| format_ident!("Cascade"));
            let to_field = opt_str(a.to_field.as_ref().map(|s| s.value()));
            let related = opt_str(a.related_name.as_ref().map(|s| s.value()));
            let related_query = opt_str(a.related_query_name.as_ref().map(|s| s.value()));
            let db_index = a.no_index.is_none();
            quote!(::core::option::Option::Some(::orm::meta::RelationMeta {
                kind: ::orm::meta::RelationKind::#kind,
                target: <#t as ::orm::Model>::meta,
                to_field: #to_field,
                on_delete: ::orm::OnDelete::#on_delete,
                related_name: #related,
                related_query_name: #related_query,
                parent_link: false,
                db_index: #db_index,
            }))
        }
        _ => quote!(::core::option::Option::None),
    };
    let nullable = quote_spanned!(ty.span()=> ::orm::__private::nullable_of::<#ty>());
    let auto = quote_spanned!(ty.span()=> ::orm::__private::auto_of::<#ty>());
    let deferrable = quote_spanned!(ty.span()=> ::orm::__private::deferrable_of::<#ty>());
    quote! {
        ::orm::meta::FieldMeta {
            name: #name,
            column: #column,
            kind: #kind,
            null: #nullable,
            blank: #blank || #nullable,
            primary_key: #pk,
            auto: #auto,
            unique: #unique,
            index: #index,
            max_length: #max_length,
            default: #default,
            choices: &[#(#choices),*],
            db_type: #db_type,
            help_text: #help,
            verbose_name: #verbose,
            auto_now: #auto_now,
            auto_now_add: #auto_now_add,
            relation: #relation,
            inherited_from: #inherited_from,
            renamed_from: #renamed,
            deferrable: #deferrable,
        }
    }
}

/// `push` statements for the fields' metadata, in column order.
fn push_fields(def: &ModelDef, inherited_from: &TokenStream) -> TokenStream {
    push_fields_into(def, inherited_from, &quote!(&mut __fields))
}

/// `target` is how the vector is passed on to bases: `&mut __fields` where it is owned,
/// `__fields` where it is already a `&mut Vec`.
fn push_fields_into(def: &ModelDef, inherited_from: &TokenStream, target: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        match &f.kind {
            FieldKind::Column { .. } => {
                let m = field_meta(f, inherited_from);
                out.extend(quote!(__fields.push(#m);));
            }
            FieldKind::Base => {
                let ty = &f.ty;
                out.extend(quote!(<#ty as ::orm::AbstractModel>::push_fields(#target);));
            }
            _ => {}
        }
    }
    out
}

/// The per-field decoding statements and the struct literal.
fn from_row_body(def: &ModelDef, label: &str) -> TokenStream {
    let mut stmts = TokenStream::new();
    let mut idents = Vec::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        let name = &f.name;
        idents.push(id.clone());
        stmts.extend(match &f.kind {
            FieldKind::Column { .. } => {
                let decode = quote_spanned!(ty.span()=> ::orm::__private::decode::<#ty>);
                quote! {
                    let #id = #decode(row, __i, #label, #name)?;
                    __i += 1;
                }
            }
            FieldKind::Base => quote! {
                let #id = <#ty as ::orm::AbstractModel>::from_row(row, __i)?;
                __i += <#ty as ::orm::AbstractModel>::COLUMN_COUNT;
            },
            FieldKind::State => {
                quote!(let #id = ::orm::ModelState { adding: false, db: ::core::option::Option::None };)
            }
            // Decoded before the other fields (its columns come first): see `expand_with_parent`.
            FieldKind::Parent => quote!(let #id = __parent;),
            FieldKind::ManyToMany { .. } | FieldKind::Reverse | FieldKind::ReverseOne | FieldKind::Skip => {
                quote!(let #id = ::core::default::Default::default();)
            }
        });
    }
    quote! {
        let mut __i = offset;
        #stmts
        let _ = __i;
        ::core::result::Result::Ok(Self { #(#idents),* })
    }
}

fn field_value_body(def: &ModelDef) -> TokenStream {
    field_by_index_body(def, "value_of", |v| v)
}

/// `field_param`: like `field_value`, borrowing where the field type can.
fn field_param_body(def: &ModelDef) -> TokenStream {
    field_by_index_body(def, "param_of", |v| quote!(::orm::Param::Owned(#v)))
}

/// The body of an accessor of the `index`-th column: `::orm::__private::<column_fn>` on a
/// column field; on an abstract base's columns (and past the last column), its `Value`
/// wrapped by `owned`.
fn field_by_index_body(def: &ModelDef, column_fn: &str, owned: impl Fn(TokenStream) -> TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        out.extend(match &f.kind {
            FieldKind::Column { .. } => {
                let func = format_ident!("{}", column_fn, span = ty.span());
                let of = quote_spanned!(ty.span()=> ::orm::__private::#func::<#ty>);
                quote! {
                    if __i == 0 { return #of(&self.#id); }
                    __i -= 1;
                }
            }
            FieldKind::Base => {
                let base = owned(quote!(<#ty as ::orm::AbstractModel>::field_value(&self.#id, __i)));
                quote! {
                    if __i < <#ty as ::orm::AbstractModel>::COLUMN_COUNT {
                        return #base;
                    }
                    __i -= <#ty as ::orm::AbstractModel>::COLUMN_COUNT;
                }
            }
            _ => TokenStream::new(),
        });
    }
    let null = owned(quote!(::orm::Value::Null));
    quote! {
        let mut __i = index;
        #out
        let _ = __i;
        #null
    }
}

fn set_field_value_body(def: &ModelDef, label: &str) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        let name = &f.name;
        out.extend(match &f.kind {
            FieldKind::Column { .. } => {
                let convert = quote_spanned!(ty.span()=> ::orm::__private::convert::<#ty>);
                quote! {
                    if __i == 0 {
                        self.#id = #convert(value, #label, #name)?;
                        return ::core::result::Result::Ok(());
                    }
                    __i -= 1;
                }
            }
            FieldKind::Base => quote! {
                if __i < <#ty as ::orm::AbstractModel>::COLUMN_COUNT {
                    return <#ty as ::orm::AbstractModel>::set_field_value(&mut self.#id, __i, value);
                }
                __i -= <#ty as ::orm::AbstractModel>::COLUMN_COUNT;
            },
            _ => TokenStream::new(),
        });
    }
    quote! {
        let mut __i = index;
        #out
        let _ = __i;
        ::core::result::Result::Err(::orm::Error::field_error(::std::format!("{} has no field number {}", #label, index)))
    }
}

/// The body of `relation_dbs`: each forward relation whose cached object knows its database.
fn relation_dbs_body(def: &ModelDef) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        if let FieldKind::Column { relation: Some(_), .. } = &f.kind {
            let (id, ty) = (&f.ident, &f.ty);
            let name = id.to_string();
            out.extend(quote! {
                if let ::core::option::Option::Some(db) = ::orm::model::related::ForwardSlot::cached_db(&self.#id) {
                    f(#name, <<#ty as ::orm::model::related::ForwardSlot>::Target as ::orm::Model>::meta(), db);
                }
            });
        }
    }
    quote! { let _ = &f; #out }
}

fn set_related_body(def: &ModelDef, label: &str) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        out.extend(match &f.kind {
            FieldKind::Column { relation: Some(_), .. } => quote! {
                if __i == 0 {
                    return ::orm::model::related::ForwardSlot::fill_from_row(&mut self.#id, row, offset, children);
                }
                __i -= 1;
            },
            FieldKind::Column { .. } => quote! {
                if __i == 0 {
                    break;
                }
                __i -= 1;
            },
            FieldKind::Base => quote! {
                if __i < <#ty as ::orm::AbstractModel>::COLUMN_COUNT {
                    break;
                }
                __i -= <#ty as ::orm::AbstractModel>::COLUMN_COUNT;
            },
            _ => TokenStream::new(),
        });
    }
    quote! {
        let mut __i = field;
        #[allow(clippy::never_loop)]
        loop {
            #out
            break;
        }
        let _ = (__i, row, offset, children);
        ::core::result::Result::Err(::orm::Error::field_error(::std::format!(
            "field number {} of {} is not a ForeignKey or OneToOne: it cannot be select_related", field, #label
        )))
    }
}

fn prefetch_body(def: &ModelDef) -> TokenStream {
    let mut arms = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let name = &f.name;
        arms.extend(match &f.kind {
            FieldKind::Column { relation: Some(_), .. } => {
                let to_field = f.attrs.to_field.as_ref().map(|s| s.value()).unwrap_or_else(|| "pk".to_owned());
                quote! {
                    #name => ::orm::prefetch::forward(objs, |o: &mut Self| &mut o.#id, #to_field, deeper, custom, ex)?,
                }
            }
            FieldKind::ManyToMany { .. } | FieldKind::Reverse => quote! {
                #name => ::orm::prefetch::many(objs, |o: &mut Self| &mut o.#id, #name, deeper, custom, ex)?,
            },
            _ => TokenStream::new(),
        });
    }
    quote! {
        let _ = (&objs, &deeper, &custom, &ex);
        match name {
            #arms
            _ => return ::core::result::Result::Ok(false),
        }
        ::core::result::Result::Ok(true)
    }
}

/// The arms of `Model::reverse_one`: each `ReverseOne<T>` field by its name.
fn reverse_one_arms(def: &ModelDef) -> TokenStream {
    def.fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::ReverseOne))
        .map(|f| {
            let (id, name) = (&f.ident, &f.name);
            quote!(#name => return ::core::option::Option::Some(&self.#id as &dyn ::orm::model::related::ReverseOneSlot),)
        })
        .collect()
}

/// `prefetch_field_as`: loads relation `relation` into the many-valued field `attr`
/// (Django's `Prefetch(…, to_attr=…)`).
fn prefetch_as_body(def: &ModelDef) -> TokenStream {
    let mut arms = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let name = &f.name;
        if let FieldKind::ManyToMany { .. } | FieldKind::Reverse = &f.kind {
            arms.extend(quote! {
                #name => ::orm::prefetch::many(objs, |o: &mut Self| &mut o.#id, relation, &[], custom, ex)?,
            });
        }
    }
    quote! {
        let _ = (&objs, &relation, &custom, &ex);
        match attr {
            #arms
            _ => return ::core::result::Result::Ok(false),
        }
        ::core::result::Result::Ok(true)
    }
}

/// Accessors generated on the other side of each relation (`author.posts()`,
/// `tag.posts()`) and the many-to-many managers on this side (`post.tags()`).
fn relation_accessors(def: &ModelDef) -> TokenStream {
    let ident = &def.ident;
    let mut out = TokenStream::new();
    for f in &def.fields {
        let name = &f.name;
        let related = f.attrs.related_name.as_ref().map(|s| s.value());
        if related.as_deref() == Some("+") || related.as_deref().is_some_and(|r| r.ends_with('+')) {
            continue;
        }
        // `%(class)s` names a concrete child this derive does not know: no accessor method
        // (the expanded name works in lookups and for the collector).
        if related.as_deref().is_some_and(|r| r.contains("%(")) {
            continue;
        }
        match &f.kind {
            FieldKind::Column { relation: Some(rel), .. } => {
                let target = &rel.target;
                let accessor = related.clone().unwrap_or_else(|| {
                    if rel.one_to_one {
                        def.snake.clone()
                    } else {
                        format!("{}_set", def.snake)
                    }
                });
                let accessor = format_ident!("{}", accessor);
                let doc = format!("The `{}` rows whose `{name}` points at this one.", ident);
                let key = match &f.attrs.to_field {
                    Some(tf) => {
                        let tf = tf.value();
                        quote!({
                            let m = <#target as ::orm::Model>::meta();
                            let i = m.field_index(#tf).unwrap_or(m.pk);
                            ::orm::Model::field_value(self, i)
                        })
                    }
                    None => quote!(::orm::Model::pk_value(self)),
                };
                if rel.one_to_one {
                    let slot = accessor.to_string();
                    let doc = format!(
                        "The `{ident}` row whose `{name}` points at this one (`None` if there is none; \
                         `DoesNotExist` without a query on an unsaved instance). Cached in a \
                         `ReverseOne<{ident}>` field named `{slot}`, if declared."
                    );
                    out.extend(quote! {
                        impl #target {
                            #[doc = #doc]
                            #[allow(dead_code)]
                            pub fn #accessor(&self, ex: &(impl ::orm::Executor + ?Sized)) -> ::orm::Result<::core::option::Option<#ident>> {
                                ::orm::lifecycle::related_manager::reverse_one::<#ident>(
                                    <#target as ::orm::Model>::reverse_one(self, #slot),
                                    #name,
                                    #key,
                                    ex,
                                )
                            }
                        }
                    });
                } else {
                    out.extend(quote! {
                        impl #target {
                            #[doc = #doc]
                            #[allow(dead_code)]
                            pub fn #accessor(&self) -> ::orm::QuerySet<#ident> {
                                ::orm::lifecycle::related_manager::related_queryset::<#ident>(#name, #key).hinted(::orm::Model::db(self))
                            }
                        }
                    });
                }
            }
            FieldKind::ManyToMany { target } => {
                let id = &f.ident;
                let doc = format!("The `{name}` many-to-many relation of this instance: all, add, remove, set, clear.");
                out.extend(quote! {
                    impl #ident {
                        #[doc = #doc]
                        #[allow(dead_code)]
                        pub fn #id(&self) -> ::orm::RelatedManager<#ident, #target> {
                            ::orm::RelatedManager::new(::orm::Model::pk_value(self), #name, false).hinted(::orm::Model::db(self))
                        }
                    }
                });
                let accessor = format_ident!("{}", related.clone().unwrap_or_else(|| format!("{}_set", def.snake)));
                let doc = format!("The `{}` rows related to this one through their `{name}` field.", ident);
                out.extend(quote! {
                    impl #target {
                        #[doc = #doc]
                        #[allow(dead_code)]
                        pub fn #accessor(&self) -> ::orm::RelatedManager<#target, #ident> {
                            ::orm::RelatedManager::new(::orm::Model::pk_value(self), #name, true).hinted(::orm::Model::db(self))
                        }
                    }
                });
            }
            _ => {}
        }
    }
    out
}

fn pre_save_body(def: &ModelDef) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        if f.attrs.auto_now.is_some() {
            out.extend(quote!(self.#id = <#ty as ::orm::__private::NowField>::now();));
        } else if f.attrs.auto_now_add.is_some() {
            out.extend(quote!(if adding { self.#id = <#ty as ::orm::__private::NowField>::now(); }));
        }
        if matches!(f.kind, FieldKind::Base) {
            out.extend(quote!(<#ty as ::orm::AbstractModel>::pre_save(&mut self.#id, adding);));
        }
    }
    quote! { let _ = adding; #out }
}

/// `fn clean` calling the function `#[orm(clean = path)]` names (Django's `Model.clean`).
fn clean_hook(def: &ModelDef) -> TokenStream {
    match &def.attrs.clean {
        Some(path) => quote_spanned! {path.span()=>
            fn clean(&self, errors: &mut ::orm::ValidationErrors) {
                #path(self, errors)
            }
        },
        None => TokenStream::new(),
    }
}

fn validate_body(def: &ModelDef) -> TokenStream {
    let mut out = TokenStream::new();
    for f in &def.fields {
        let id = &f.ident;
        let ty = &f.ty;
        let name = &f.name;
        for v in &f.attrs.validators {
            out.extend(quote_spanned! {v.span()=>
                if let ::core::result::Result::Err(m) = #v(&self.#id) {
                    errors.add(#name, m);
                }
            });
        }
        if matches!(f.kind, FieldKind::Base) {
            out.extend(quote!(<#ty as ::orm::AbstractModel>::validate_fields(&self.#id, errors);));
        }
    }
    quote! { let _ = &errors; #out }
}

/// Ordering, indexes, unique and check constraints of the container.
fn options(def: &ModelDef, table: &TokenStream) -> (TokenStream, TokenStream, TokenStream) {
    let a = &def.attrs;
    let ordering = match &a.ordering {
        Some(list) => {
            let items = list.iter().map(|s| s.value());
            quote!(::core::option::Option::Some(&[#(#items),*] as &'static [&'static str]))
        }
        None => quote!(::core::option::Option::None),
    };
    let indexes = a.indexes.iter().map(|ix| {
        let fields: Vec<String> = ix.fields.iter().map(|s| s.value()).collect();
        let name = match &ix.name {
            Some(n) => quote!(#n),
            None => quote!(""),
        };
        quote!(::orm::meta::IndexMeta { name: #name, fields: &[#(#fields),*] })
    });
    let uniques = a.uniques.iter().map(|u| {
        let fields: Vec<String> = u.fields.iter().map(|s| s.value()).collect();
        let name = match &u.name {
            Some(n) => quote!(#n),
            None => quote!(""),
        };
        quote!(::orm::meta::ConstraintMeta::Unique { name: #name, fields: &[#(#fields),*] })
    });
    let checks = a.checks.iter().map(|c| {
        let (n, s) = (&c.name, &c.sql);
        quote!(::orm::meta::ConstraintMeta::Check { name: #n, sql: #s })
    });
    let _ = table;
    (
        ordering,
        quote!(::std::vec![#(#indexes),*] as ::std::vec::Vec<::orm::meta::IndexMeta>),
        quote!(::std::vec![#(#uniques,)* #(#checks),*] as ::std::vec::Vec<::orm::meta::ConstraintMeta>),
    )
}

/// Gives generated names to unnamed indexes and unique constraints (`<table>_<fields>_idx`).
fn name_options(app: &TokenStream, name: &str) -> TokenStream {
    quote! {
        // `%(class)s` / `%(app_label)s` in a related_name (from an abstract base) name this
        // concrete model, as in Django.
        ::orm::__private::expand_related_names(&mut __fields, #app, #name);
        for ix in __indexes.iter_mut() {
            if ix.name.is_empty() {
                let mut parts: ::std::vec::Vec<&str> = ::std::vec![__table];
                parts.extend(ix.fields.iter().copied());
                ix.name = ::std::boxed::Box::leak(::orm::schema::constraint_name(&parts, "idx").into_boxed_str());
            }
        }
        for c in __constraints.iter_mut() {
            if let ::orm::meta::ConstraintMeta::Unique { name, fields } = c {
                if name.is_empty() {
                    let mut parts: ::std::vec::Vec<&str> = ::std::vec![__table];
                    parts.extend(fields.iter().copied());
                    *name = ::std::boxed::Box::leak(::orm::schema::constraint_name(&parts, "uniq").into_boxed_str());
                }
            }
        }
    }
}

fn handles(def: &ModelDef) -> TokenStream {
    let ident = &def.ident;
    let mut out = TokenStream::new();
    let mut has_pk_name = false;
    for f in &def.fields {
        if let FieldKind::Column { .. } = f.kind {
            let id = &f.ident;
            let ty = &f.ty;
            let name = &f.name;
            has_pk_name |= name == "pk";
            let doc = format!("The `{name}` field, for typed lookups and ordering.");
            let lookup = quote_spanned!(ty.span()=> <#ty as ::orm::FieldType>::Lookup);
            out.extend(quote! {
                #[doc = #doc]
                #[allow(dead_code)]
                pub fn #id() -> ::orm::Field<#ident, #lookup> {
                    ::orm::Field::new(#name)
                }
            });
        }
    }
    if !has_pk_name && !def.is_abstract {
        out.extend(quote! {
            /// The primary key, for typed lookups (`Model::pk().eq(..)`).
            #[allow(dead_code)]
            pub fn pk() -> ::orm::Field<#ident, <<#ident as ::orm::Model>::Key as ::orm::FieldType>::Lookup> {
                ::orm::Field::new("pk")
            }
        });
    }
    quote!(impl #ident { #out })
}

/// A multi-table child (its own table keyed by `<parent>_ptr_id`, reads joined to the parent)
/// or a proxy (the parent's table and fields, its own behaviour).
fn expand_with_parent(def: &ModelDef, pi: usize) -> TokenStream {
    let ident = &def.ident;
    let name = ident.to_string();
    let parent = &def.fields[pi];
    let (pid, pty) = (&parent.ident, &parent.ty);
    let psnake = type_ident_snake(pty);
    let proxy = def.is_proxy;
    let label_hint = match &def.attrs.app {
        Some(a) => format!("{}.{}", a.value(), name),
        None => name.clone(),
    };
    let asserts: TokenStream =
        def.fields.iter().filter(|f| !matches!(f.kind, FieldKind::Parent)).map(assertions).collect();
    let parent_assert = quote_spanned!(pty.span()=> const _: () = ::orm::__private::assert_model::<#pty>(););
    let app = match &def.attrs.app {
        Some(a) => quote!(#a),
        None => quote!(<#pty as ::orm::Model>::meta().app),
    };
    let verbose = def.attrs.verbose_name.as_ref().map(|s| s.value()).unwrap_or_else(|| def.snake.replace('_', " "));
    let renamed = opt_str(def.attrs.renamed_from.as_ref().map(|s| s.value()));
    let select_on_save = def.attrs.select_on_save.is_some();
    let natural_key: Vec<String> = def.attrs.natural_key.iter().flatten().map(|s| s.value()).collect();
    let ordering = match &def.attrs.ordering {
        Some(list) => {
            let items = list.iter().map(|s| s.value());
            quote!(&[#(#items),*])
        }
        None => quote!(<#pty as ::orm::Model>::meta().ordering),
    };
    let mut body = from_row_body(def, &label_hint);
    let skip_ptr = if proxy { quote!() } else { quote!(__i += 1;) };
    body = quote! {
        let __parent = <#pty as ::orm::Model>::from_row(row, offset)?;
        let offset = offset + ::orm::model::width(<#pty as ::orm::Model>::meta());
        let mut __i = offset;
        #skip_ptr
        let offset = __i;
        #body
    };
    let field_value = field_value_body(def);
    let set_field_value = set_field_value_body(def, &label_hint);
    let set_related = set_related_body(def, &label_hint);
    let relation_dbs = relation_dbs_body(def);
    let pre_save = pre_save_body(def);
    let validate = validate_body(def);
    let prefetch = prefetch_body(def);
    let reverse_one = reverse_one_arms(def);
    let prefetch_as = prefetch_as_body(def);
    let accessors = relation_accessors(def);
    let handles = handles(def);
    let manager = match &def.attrs.manager {
        Some(path) => quote!(fn objects() -> ::orm::QuerySet<Self> { #path() }),
        // Django: a proxy without a manager of its own uses its parent's default manager.
        None if proxy => quote! {
            fn objects() -> ::orm::QuerySet<Self> {
                ::orm::QuerySet::from_parent_manager(<#pty as ::orm::DefaultManager>::objects())
            }
        },
        None => TokenStream::new(),
    };
    let clean = clean_hook(def);
    let validate_parent =
        if proxy { quote!(<#pty as ::orm::Model>::validate_fields(&self.#pid, errors);) } else { TokenStream::new() };
    let (meta, by_index, set_by_index, related_by_index) = if proxy {
        (
            quote! {
                let p = <#pty as ::orm::Model>::meta();
                ::orm::ModelMeta {
                    app: #app,
                    name: #name,
                    table: p.table,
                    fields: p.fields,
                    pk: p.pk,
                    ordering: #ordering,
                    indexes: &[],
                    constraints: &[],
                    many_to_many: p.many_to_many,
                    kind: ::orm::meta::ModelKind::Proxy { of: <#pty as ::orm::Model>::meta },
                    verbose_name: #verbose,
                    renamed_from: #renamed,
                    select_on_save: #select_on_save,
                    natural_key: &[#(#natural_key),*],
                    sql_cache: ::core::default::Default::default(),
                }
            },
            quote!(<#pty as ::orm::Model>::field_value(&self.#pid, index)),
            quote!(<#pty as ::orm::Model>::set_field_value(&mut self.#pid, index, value)),
            quote!(<#pty as ::orm::Model>::set_related(&mut self.#pid, field, row, offset, children)),
        )
    } else {
        let push = push_fields(def, &quote!(::core::option::Option::None));
        let (ordering_own, indexes, constraints) = options(def, &quote!());
        let naming = name_options(&app, &name);
        let table = match (&def.attrs.table, &def.attrs.app) {
            (Some(t), _) => quote!(#t),
            (None, Some(a)) => {
                let t = format!("{}_{}", a.value(), def.snake);
                quote!(#t)
            }
            (None, None) => {
                let suffix = format!("_{}", def.snake);
                quote!(::core::concat!(::core::env!("CARGO_CRATE_NAME"), #suffix))
            }
        };
        let ptr_name = format!("{psnake}_ptr");
        let ptr_column = format!("{psnake}_ptr_id");
        let m2m = m2m_metas(def);
        (
            quote! {
                let __table: &'static str = #table;
                let p = <#pty as ::orm::Model>::meta();
                let mut __fields: ::std::vec::Vec<::orm::meta::FieldMeta> = ::std::vec![::orm::meta::FieldMeta {
                    primary_key: true,
                    relation: ::core::option::Option::Some(::orm::meta::RelationMeta {
                        kind: ::orm::meta::RelationKind::OneToOne,
                        target: <#pty as ::orm::Model>::meta,
                        to_field: ::core::option::Option::None,
                        on_delete: ::orm::OnDelete::Cascade,
                        related_name: ::core::option::Option::None,
                        related_query_name: ::core::option::Option::None,
                        parent_link: true,
                        db_index: true,
                    }),
                    ..::orm::meta::FieldMeta::new(#ptr_name, #ptr_column, <#pty as ::orm::Model>::PK_KIND)
                }];
                #push
                let __bases: &[&'static ::orm::ModelMeta] = &[];
                let __ordering: &'static [&'static str] = match #ordering_own {
                    ::core::option::Option::Some(o) => o,
                    ::core::option::Option::None => p.ordering,
                };
                let mut __indexes = #indexes;
                let mut __constraints = #constraints;
                let _ = __bases;
                #naming
                let __m2m: ::std::vec::Vec<::orm::meta::ManyToManyMeta> = ::std::vec![#(#m2m),*];
                ::orm::ModelMeta {
                    app: #app,
                    name: #name,
                    table: __table,
                    fields: ::orm::__private::leak(__fields),
                    pk: 0,
                    ordering: __ordering,
                    indexes: ::orm::__private::leak(__indexes),
                    constraints: ::orm::__private::leak(__constraints),
                    many_to_many: ::orm::__private::leak(__m2m),
                    kind: ::orm::meta::ModelKind::MultiTable { parent: <#pty as ::orm::Model>::meta },
                    verbose_name: #verbose,
                    renamed_from: #renamed,
                    select_on_save: #select_on_save,
                    natural_key: &[#(#natural_key),*],
                    sql_cache: ::core::default::Default::default(),
                }
            },
            quote! {
                if index == 0 {
                    return ::orm::Model::pk_value(&self.#pid);
                }
                let index = index - 1;
                #field_value
            },
            quote! {
                if index == 0 {
                    let pk = <#pty as ::orm::Model>::meta().pk;
                    return <#pty as ::orm::Model>::set_field_value(&mut self.#pid, pk, value);
                }
                let index = index - 1;
                #set_field_value
            },
            quote! {
                if field == 0 {
                    return ::core::result::Result::Err(::orm::Error::field_error("a parent link cannot be select_related"));
                }
                let field = field - 1;
                #set_related
            },
        )
    };
    let parent_ops = if proxy {
        TokenStream::new()
    } else {
        quote! {
            fn save_parent<E: ::orm::Executor + ?::core::marker::Sized>(&mut self, ex: &E, adding: bool) -> ::orm::Result<()> {
                let options = ::orm::SaveOptions { force_insert: adding, ..::core::default::Default::default() };
                <#pty as ::orm::Persist>::save_with(&mut self.#pid, ex, &options)
            }
            fn set_related_in_parent(&mut self, node: &::orm::model::RelatedNode, row: &dyn ::orm::Row) -> ::orm::Result<()> {
                ::orm::model::related::set_related_node(&mut self.#pid, node, row)
            }
            fn save_parent_fields<E: ::orm::Executor + ?::core::marker::Sized>(&mut self, ex: &E, fields: &[::std::string::String]) -> ::orm::Result<()> {
                let options = ::orm::SaveOptions::update_fields(fields.iter().cloned());
                <#pty as ::orm::Persist>::save_with(&mut self.#pid, ex, &options)
            }
            fn delete_parent<E: ::orm::Executor + ?::core::marker::Sized>(&mut self, ex: &E) -> ::orm::Result<()> {
                <#pty as ::orm::Persist>::delete(&mut self.#pid, ex).map(|_| ())
            }
            fn full_clean_parent<E: ::orm::Executor + ?::core::marker::Sized>(
                &self,
                ex: &E,
                exclude: &[&str],
                errors: &mut ::orm::ValidationErrors,
            ) -> ::orm::Result<()> {
                ::orm::validation::clean_into(&self.#pid, ex, exclude, errors)
            }
        }
    };
    let downcast = if proxy {
        TokenStream::new()
    } else {
        let accessor = format_ident!("{}", def.snake);
        let doc = format!("This row as a `{name}`, if it is one (multi-table inheritance).");
        quote! {
            impl #pty {
                #[doc = #doc]
                #[allow(dead_code)]
                pub fn #accessor(&self, ex: &(impl ::orm::Executor + ?::core::marker::Sized)) -> ::orm::Result<::core::option::Option<#ident>> {
                    let key = ::orm::Model::pk_value(self);
                    if key.is_null() {
                        return ::core::result::Result::Ok(::core::option::Option::None);
                    }
                    match <#ident as ::orm::DefaultManager>::objects().filter(::orm::Q::path("pk", key)?).get(ex) {
                        ::core::result::Result::Ok(o) => ::core::result::Result::Ok(::core::option::Option::Some(o)),
                        ::core::result::Result::Err(::orm::Error::DoesNotExist { .. }) => ::core::result::Result::Ok(::core::option::Option::None),
                        ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
                    }
                }
            }
        }
    };
    quote! {
        const _: () = {
            #parent_assert
            #asserts
            #[automatically_derived]
            impl ::orm::Model for #ident {
                type Key = <#pty as ::orm::Model>::Key;
                const PK_KIND: ::orm::ColumnKind = <#pty as ::orm::Model>::PK_KIND;

                fn meta() -> &'static ::orm::ModelMeta {
                    static META: ::orm::__private::OnceLock<::orm::ModelMeta> = ::orm::__private::OnceLock::new();
                    META.get_or_init(|| { #meta })
                }

                #[inline]
                #[allow(unused_assignments, unused_mut, unused_variables)]
                fn from_row(row: &dyn ::orm::Row, offset: usize) -> ::orm::Result<Self> { #body }
                #[allow(unused_assignments, unused_mut)]
                fn field_value(&self, index: usize) -> ::orm::Value { #by_index }
                #[allow(unused_assignments, unused_mut)]
                fn set_field_value(&mut self, index: usize, value: &::orm::Value) -> ::orm::Result<()> { #set_by_index }
                fn adding(&self) -> ::core::option::Option<bool> { <#pty as ::orm::Model>::adding(&self.#pid) }
                fn set_adding(&mut self, adding: bool) { <#pty as ::orm::Model>::set_adding(&mut self.#pid, adding) }
                fn db(&self) -> ::core::option::Option<&'static str> { <#pty as ::orm::Model>::db(&self.#pid) }
                fn set_db(&mut self, alias: &'static str) { <#pty as ::orm::Model>::set_db(&mut self.#pid, alias) }
                fn pre_save(&mut self, adding: bool) {
                    <#pty as ::orm::Model>::pre_save(&mut self.#pid, adding);
                    #pre_save
                }
                fn validate_fields(&self, errors: &mut ::orm::ValidationErrors) {
                    // The parent's own validators run when its part is cleaned
                    // (full_clean_parent); a proxy has the same fields as its model.
                    #validate_parent
                    #validate
                }
                #[allow(unused_assignments, unused_mut, unreachable_code)]
                fn set_related(
                    &mut self,
                    field: usize,
                    row: &dyn ::orm::Row,
                    offset: usize,
                    children: &[::orm::model::RelatedNode],
                ) -> ::orm::Result<()> { #related_by_index }
                fn relation_dbs(&self, f: &mut dyn ::core::ops::FnMut(&'static str, &'static ::orm::ModelMeta, &'static str)) {
                    <#pty as ::orm::Model>::relation_dbs(&self.#pid, f);
                    #relation_dbs
                }
                #[allow(unreachable_code)]
                fn prefetch_field<E: ::orm::Executor + ?::core::marker::Sized>(
                    objs: &mut [Self],
                    name: &str,
                    deeper: &[::orm::Prefetch],
                    custom: ::core::option::Option<&(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync)>,
                    ex: &E,
                ) -> ::orm::Result<bool> { #prefetch }
                #clean
                fn reverse_one(&self, accessor: &str) -> ::core::option::Option<&dyn ::orm::model::related::ReverseOneSlot> {
                    match accessor {
                        #reverse_one
                        _ => {}
                    }
                    <#pty as ::orm::Model>::reverse_one(&self.#pid, accessor)
                }
                #[allow(unreachable_code)]
                fn prefetch_field_as<E: ::orm::Executor + ?::core::marker::Sized>(
                    objs: &mut [Self],
                    attr: &str,
                    relation: &str,
                    custom: ::core::option::Option<&(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync)>,
                    ex: &E,
                ) -> ::orm::Result<bool> { #prefetch_as }
                #parent_ops
            }
            #[automatically_derived]
            impl ::orm::DefaultManager for #ident {
                #manager
            }
            impl ::orm::Inherits<#pty> for #ident {}
            impl ::core::ops::Deref for #ident {
                type Target = #pty;
                fn deref(&self) -> &#pty {
                    &self.#pid
                }
            }
            impl ::core::ops::DerefMut for #ident {
                fn deref_mut(&mut self) -> &mut #pty {
                    &mut self.#pid
                }
            }
            #handles
            #accessors
            #downcast
            ::orm::__private::inventory::submit! {
                ::orm::model::registry::ModelEntry {
                    meta: <#ident as ::orm::Model>::meta,
                    decode: ::orm::__private::decode_boxed::<#ident>,
                }
            }
        };
    }
}

/// An abstract base's many-to-many fields as pushes of `ManyToManyMeta` for the concrete
/// model being built (`__source`, `__table`, `__snake`, `__app`, `__model`): each child its own
/// link table `<child table>_<field>`, its related names' placeholders expanded for it.
fn abstract_m2m_pushes(def: &ModelDef) -> Vec<TokenStream> {
    def.fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::ManyToMany { target } => {
                let fname = &f.name;
                let dst = format!("{}_id", type_ident_snake(target));
                let name_of = |v: Option<String>| match v {
                    Some(n) => quote! {
                        ::core::option::Option::Some(::orm::__private::expand_placeholders(#n, __app, __model))
                    },
                    None => quote!(::core::option::Option::None),
                };
                let related = name_of(f.attrs.related_name.as_ref().map(|s| s.value()));
                let related_query = name_of(f.attrs.related_query_name.as_ref().map(|s| s.value()));
                let through = match &f.attrs.through {
                    Some(t) => quote!(::core::option::Option::Some(<#t as ::orm::Model>::meta)),
                    None => quote!(::core::option::Option::None),
                };
                Some(quote! {
                    __out.push(::orm::meta::ManyToManyMeta {
                        name: #fname,
                        symmetrical: false,
                        source: __source,
                        target: <#target as ::orm::Model>::meta,
                        through: #through,
                        join_table: ::std::boxed::Box::leak(::std::format!("{}_{}", __table, #fname).into_boxed_str()),
                        source_column: ::std::boxed::Box::leak(::std::format!("{}_id", __snake).into_boxed_str()),
                        target_column: #dst,
                        related_name: #related,
                        related_query_name: #related_query,
                        renamed_from: ::core::option::Option::None,
                    });
                })
            }
            _ => None,
        })
        .collect()
}

fn m2m_metas(def: &ModelDef) -> Vec<TokenStream> {
    let ident = &def.ident;
    def.fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::ManyToMany { target } => {
                let fname = &f.name;
                let target_snake = type_ident_snake(target);
                let self_ref = target_snake == def.snake || target_snake == "self";
                let (src, dst) = if self_ref {
                    (format!("from_{}_id", def.snake), format!("to_{}_id", def.snake))
                } else {
                    (format!("{}_id", def.snake), format!("{target_snake}_id"))
                };
                let related = opt_str(f.attrs.related_name.as_ref().map(|s| s.value()));
                let related_query = opt_str(f.attrs.related_query_name.as_ref().map(|s| s.value()));
                let m2m_renamed = opt_str(f.attrs.renamed_from.as_ref().map(|s| s.value()));
                let (through, join_table) = match &f.attrs.through {
                    Some(t) => (
                        quote!(::core::option::Option::Some(<#t as ::orm::Model>::meta)),
                        quote!(<#t as ::orm::Model>::meta().table),
                    ),
                    None => (
                        quote!(::core::option::Option::None),
                        quote!(::std::boxed::Box::leak(::std::format!("{}_{}", __table, #fname).into_boxed_str())),
                    ),
                };
                // Django: a many-to-many to the same model is symmetrical unless told otherwise
                // (only its auto-created join table is written both ways).
                let symmetrical = self_ref && f.attrs.symmetrical.as_ref().is_none_or(|b| b.value);
                Some(quote! {
                    ::orm::meta::ManyToManyMeta {
                        name: #fname,
                        symmetrical: #symmetrical,
                        source: <#ident as ::orm::Model>::meta,
                        target: <#target as ::orm::Model>::meta,
                        through: #through,
                        join_table: #join_table,
                        source_column: #src,
                        target_column: #dst,
                        related_name: #related,
                        related_query_name: #related_query,
                        renamed_from: #m2m_renamed,
                    }
                })
            }
            _ => None,
        })
        .collect()
}

/// Compile-time checks that no two of the model's own fields and its bases' share a name.
fn clash_checks(def: &ModelDef) -> TokenStream {
    let own: Vec<&String> =
        def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Column { .. })).map(|f| &f.name).collect();
    let bases: Vec<&FieldDef> = def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Base)).collect();
    let mut out = TokenStream::new();
    for (i, b) in bases.iter().enumerate() {
        let ty = &b.ty;
        out.extend(quote_spanned! {ty.span()=>
            const _: () = ::orm::__private::assert_no_clash(&[#(#own),*], <#ty as ::orm::AbstractModel>::OWN_FIELD_NAMES);
        });
        for other in &bases[i + 1..] {
            let oty = &other.ty;
            out.extend(quote_spanned! {oty.span()=>
                const _: () = ::orm::__private::assert_no_clash(
                    <#ty as ::orm::AbstractModel>::OWN_FIELD_NAMES,
                    <#oty as ::orm::AbstractModel>::OWN_FIELD_NAMES,
                );
            });
        }
    }
    out
}

pub(crate) fn expand(def: &ModelDef) -> TokenStream {
    if let Some(pi) = def.parent {
        return expand_with_parent(def, pi);
    }
    let ident = &def.ident;
    let name = ident.to_string();
    let mut asserts: TokenStream = def.fields.iter().map(assertions).collect();
    asserts.extend(clash_checks(def));
    let app = match &def.attrs.app {
        Some(a) => quote!(#a),
        None => quote!(::core::env!("CARGO_CRATE_NAME")),
    };
    let label_hint = match &def.attrs.app {
        Some(a) => format!("{}.{}", a.value(), name),
        None => name.clone(),
    };
    let table = match (&def.attrs.table, &def.attrs.app) {
        (Some(t), _) => quote!(#t),
        (None, Some(a)) => {
            let t = format!("{}_{}", a.value(), def.snake);
            quote!(#t)
        }
        (None, None) => {
            let suffix = format!("_{}", def.snake);
            quote!(::core::concat!(::core::env!("CARGO_CRATE_NAME"), #suffix))
        }
    };
    let verbose = def.attrs.verbose_name.as_ref().map(|s| s.value()).unwrap_or_else(|| def.snake.replace('_', " "));
    let renamed = opt_str(def.attrs.renamed_from.as_ref().map(|s| s.value()));
    let select_on_save = def.attrs.select_on_save.is_some();
    let natural_key: Vec<String> = def.attrs.natural_key.iter().flatten().map(|s| s.value()).collect();
    let from_row = from_row_body(def, &label_hint);
    let field_value = field_value_body(def);
    let field_param = field_param_body(def);
    let set_field_value = set_field_value_body(def, &label_hint);
    let pre_save = pre_save_body(def);
    let validate = validate_body(def);
    let (ordering, indexes, constraints) = options(def, &table);
    let naming = name_options(&app, &name);
    let bases: Vec<&Type> = def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Base)).map(|f| &f.ty).collect();
    let base_metas =
        quote!(let __bases: &[&'static ::orm::ModelMeta] = &[#(<#bases as ::orm::AbstractModel>::abstract_meta()),*];);
    let inherit_options = quote! {
        let __ordering: &'static [&'static str] = match #ordering {
            ::core::option::Option::Some(o) => o,
            ::core::option::Option::None => __bases.iter().map(|b| b.ordering).find(|o| !o.is_empty()).unwrap_or(&[]),
        };
        let mut __indexes = #indexes;
        let mut __constraints = #constraints;
        for b in __bases {
            __indexes.extend_from_slice(b.indexes);
            __constraints.extend_from_slice(b.constraints);
        }
    };

    if def.is_abstract {
        let abstract_m2m = abstract_m2m_pushes(def);
        let push = push_fields_into(def, &quote!(::core::option::Option::Some(#name)), &quote!(__fields));
        let own_columns = def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Column { .. })).count();
        let column_count = quote!(#own_columns #(+ <#bases as ::orm::AbstractModel>::COLUMN_COUNT)*);
        let own_names: Vec<&String> =
            def.fields.iter().filter(|f| matches!(f.kind, FieldKind::Column { .. })).map(|f| &f.name).collect();
        return quote! {
            const _: () = {
                #asserts
                #[automatically_derived]
                impl ::orm::AbstractModel for #ident {
                    const COLUMN_COUNT: usize = #column_count;
                    const OWN_FIELD_NAMES: &'static [&'static str] = &[#(#own_names),*];
                    fn push_many_to_many(
                        __source: fn() -> &'static ::orm::ModelMeta,
                        __table: &'static str,
                        __snake: &'static str,
                        __app: &str,
                        __model: &str,
                        __out: &mut ::std::vec::Vec<::orm::meta::ManyToManyMeta>,
                    ) {
                        #(<#bases as ::orm::AbstractModel>::push_many_to_many(__source, __table, __snake, __app, __model, __out);)*
                        #(#abstract_m2m)*
                    }
                    fn push_fields(__fields: &mut ::std::vec::Vec<::orm::meta::FieldMeta>) {
                        #push
                    }
                    fn abstract_meta() -> &'static ::orm::ModelMeta {
                        static META: ::orm::__private::OnceLock<::orm::ModelMeta> = ::orm::__private::OnceLock::new();
                        META.get_or_init(|| {
                            let mut __fields = ::std::vec::Vec::new();
                            <Self as ::orm::AbstractModel>::push_fields(&mut __fields);
                            #base_metas
                            #inherit_options
                            ::orm::ModelMeta {
                                app: #app,
                                name: #name,
                                table: "",
                                fields: ::orm::__private::leak(__fields),
                                pk: 0,
                                ordering: __ordering,
                                indexes: ::orm::__private::leak(__indexes),
                                constraints: ::orm::__private::leak(__constraints),
                                many_to_many: &[],
                                kind: ::orm::meta::ModelKind::Abstract,
                                verbose_name: #verbose,
                                renamed_from: #renamed,
                                select_on_save: #select_on_save,
                                natural_key: &[#(#natural_key),*],
                                sql_cache: ::core::default::Default::default(),
                            }
                        })
                    }
                    #[allow(unused_assignments, unused_mut)]
                    #[inline]
                    fn from_row(row: &dyn ::orm::Row, offset: usize) -> ::orm::Result<Self> { #from_row }
                    #[allow(unused_assignments, unused_mut)]
                    fn field_value(&self, index: usize) -> ::orm::Value { #field_value }
                    #[allow(unused_assignments, unused_mut)]
                    fn set_field_value(&mut self, index: usize, value: &::orm::Value) -> ::orm::Result<()> { #set_field_value }
                    fn pre_save(&mut self, adding: bool) { #pre_save }
                    fn validate_fields(&self, errors: &mut ::orm::ValidationErrors) { #validate }
                }
            };
        };
    }

    let push = push_fields(def, &quote!(::core::option::Option::None));
    let pk = def.fields.iter().find(|f| f.primary_key).expect("validated: one primary key");
    let (pk_ident, pk_ty) = (&pk.ident, &pk.ty);
    let state = def.fields.iter().find(|f| matches!(f.kind, FieldKind::State)).map(|f| &f.ident);
    let (db, set_db) = match state {
        Some(s) => (quote!(self.#s.db), quote!(self.#s.db = ::core::option::Option::Some(alias);)),
        None => (quote!(::core::option::Option::None), quote!(let _ = alias;)),
    };
    let (adding, set_adding) = match state {
        Some(s) => (quote!(::core::option::Option::Some(self.#s.adding)), quote!(self.#s.adding = adding;)),
        None => (
            quote! {
                if ::orm::__private::auto_of::<#pk_ty>() {
                    ::core::option::Option::Some(::orm::ToValue::to_value(&self.#pk_ident).is_null())
                } else {
                    ::core::option::Option::None
                }
            },
            quote!(let _ = adding;),
        ),
    };
    let ident = &def.ident;
    let m2m = m2m_metas(def);
    let snake = &def.snake;
    let handles = handles(def);
    let set_related = set_related_body(def, &label_hint);
    let relation_dbs = relation_dbs_body(def);
    let prefetch = prefetch_body(def);
    let reverse_one = reverse_one_arms(def);
    let prefetch_as = prefetch_as_body(def);
    let accessors = relation_accessors(def);
    let manager = match &def.attrs.manager {
        Some(path) => quote! {
            fn objects() -> ::orm::QuerySet<Self> {
                #path()
            }
        },
        None => TokenStream::new(),
    };
    let clean = clean_hook(def);
    let pk_key = quote_spanned!(pk_ty.span()=> <#pk_ty as ::orm::FieldType>::Lookup);
    let pk_kind = quote_spanned!(pk_ty.span()=> ::orm::__private::kind_of::<#pk_ty>());
    quote! {
        const _: () = {
            #asserts
            #[automatically_derived]
            impl ::orm::Model for #ident {
                type Key = #pk_key;
                const PK_KIND: ::orm::ColumnKind = #pk_kind;

                fn meta() -> &'static ::orm::ModelMeta {
                    static META: ::orm::__private::OnceLock<::orm::ModelMeta> = ::orm::__private::OnceLock::new();
                    META.get_or_init(|| {
                        let __table: &'static str = #table;
                        let mut __fields: ::std::vec::Vec<::orm::meta::FieldMeta> = ::std::vec::Vec::new();
                        #push
                        let __pk = __fields.iter().position(|f| f.primary_key).expect("the derive checked there is one primary key");
                        #base_metas
                        #inherit_options
                        #naming
                        #[allow(unused_mut)]
                        let mut __m2m: ::std::vec::Vec<::orm::meta::ManyToManyMeta> = ::std::vec![#(#m2m),*];
                        // Many-to-many fields of abstract bases: this model's own link tables.
                        #(<#bases as ::orm::AbstractModel>::push_many_to_many(<Self as ::orm::Model>::meta, __table, #snake, #app, #name, &mut __m2m);)*
                        ::orm::ModelMeta {
                            app: #app,
                            name: #name,
                            table: __table,
                            fields: ::orm::__private::leak(__fields),
                            pk: __pk,
                            ordering: __ordering,
                            indexes: ::orm::__private::leak(__indexes),
                            constraints: ::orm::__private::leak(__constraints),
                            many_to_many: ::orm::__private::leak(__m2m),
                            kind: ::orm::meta::ModelKind::Concrete,
                            verbose_name: #verbose,
                            renamed_from: #renamed,
                            select_on_save: #select_on_save,
                            natural_key: &[#(#natural_key),*],
                            sql_cache: ::core::default::Default::default(),
                        }
                    })
                }

                #[allow(unused_assignments, unused_mut)]
                #[inline]
                fn from_row(row: &dyn ::orm::Row, offset: usize) -> ::orm::Result<Self> { #from_row }
                #[allow(unused_assignments, unused_mut)]
                fn field_value(&self, index: usize) -> ::orm::Value { #field_value }
                #[allow(unused_assignments, unused_mut)]
                fn field_param(&self, index: usize) -> ::orm::Param<'_> { #field_param }
                #[allow(unused_assignments, unused_mut)]
                fn set_field_value(&mut self, index: usize, value: &::orm::Value) -> ::orm::Result<()> { #set_field_value }
                fn adding(&self) -> ::core::option::Option<bool> { #adding }
                fn set_adding(&mut self, adding: bool) { #set_adding }
                #[inline]
                fn db(&self) -> ::core::option::Option<&'static str> { #db }
                #[inline]
                fn set_db(&mut self, alias: &'static str) { #set_db }
                fn pre_save(&mut self, adding: bool) { #pre_save }
                fn validate_fields(&self, errors: &mut ::orm::ValidationErrors) { #validate }
                #[allow(unused_assignments, unused_mut, unreachable_code)]
                fn set_related(
                    &mut self,
                    field: usize,
                    row: &dyn ::orm::Row,
                    offset: usize,
                    children: &[::orm::model::RelatedNode],
                ) -> ::orm::Result<()> { #set_related }
                fn relation_dbs(&self, f: &mut dyn ::core::ops::FnMut(&'static str, &'static ::orm::ModelMeta, &'static str)) {
                    #relation_dbs
                }
                #[allow(unreachable_code)]
                fn prefetch_field<E: ::orm::Executor + ?::core::marker::Sized>(
                    objs: &mut [Self],
                    name: &str,
                    deeper: &[::orm::Prefetch],
                    custom: ::core::option::Option<&(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync)>,
                    ex: &E,
                ) -> ::orm::Result<bool> { #prefetch }
                #clean
                fn reverse_one(&self, accessor: &str) -> ::core::option::Option<&dyn ::orm::model::related::ReverseOneSlot> {
                    match accessor {
                        #reverse_one
                        _ => ::core::option::Option::None,
                    }
                }
                #[allow(unreachable_code)]
                fn prefetch_field_as<E: ::orm::Executor + ?::core::marker::Sized>(
                    objs: &mut [Self],
                    attr: &str,
                    relation: &str,
                    custom: ::core::option::Option<&(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync)>,
                    ex: &E,
                ) -> ::orm::Result<bool> { #prefetch_as }
            }
            #[automatically_derived]
            impl ::orm::DefaultManager for #ident {
                #manager
            }
            #handles
            #accessors
            ::orm::__private::inventory::submit! {
                ::orm::model::registry::ModelEntry {
                    meta: <#ident as ::orm::Model>::meta,
                    decode: ::orm::__private::decode_boxed::<#ident>,
                }
            }
        };
    }
}

/// The constructor of a concrete model (Django's `Post(title=…, author=…)`): a struct
/// `New<Model>` holding the required fields, whose `build()` fills every other one (its
/// `default`, `Auto` unset, `None`, `auto_now`, empty relation caches and state) and whose
/// `create()` saves it. A missing required field is a missing field of a struct literal: a
/// compile error naming it.
pub(crate) fn constructor(def: &ModelDef, vis: &syn::Visibility) -> TokenStream {
    let ident = &def.ident;
    let new_ident = format_ident!("New{}", ident);
    let mut required = Vec::new();
    let mut inits = Vec::new();
    for f in &def.fields {
        let (id, ty) = (&f.ident, &f.ty);
        let wrapper = super::last_segment(ty).map(|(i, _)| i.to_string()).unwrap_or_default();
        let a = &f.attrs;
        let fill = match &f.kind {
            FieldKind::ManyToMany { .. } | FieldKind::Reverse | FieldKind::ReverseOne | FieldKind::State => {
                Some(quote_spanned!(ty.span()=> ::core::default::Default::default()))
            }
            FieldKind::Column { .. } => match &a.default {
                Some(d) => Some(match &d.value {
                    Default_::Literal(lit) => quote_spanned! {d.span=> {
                        let v: <#ty as ::orm::FieldType>::Lookup = ::core::convert::Into::into(#lit);
                        ::orm::__private::default_value::<#ty>(::orm::ToValue::to_value(&v))
                    }},
                    Default_::Callable(path) => quote_spanned!(d.span=> ::core::convert::Into::into(#path())),
                }),
                None if a.auto_now.is_some() || a.auto_now_add.is_some() => {
                    Some(quote_spanned!(ty.span()=> <#ty as ::orm::__private::NowField>::now()))
                }
                None if wrapper == "Option" => Some(quote!(::core::option::Option::None)),
                None if wrapper == "Auto" => Some(quote_spanned!(ty.span()=> ::core::default::Default::default())),
                None => None,
            },
            FieldKind::Base | FieldKind::Parent | FieldKind::Skip => None,
        };
        match fill {
            Some(v) => inits.push(quote!(#id: #v)),
            None => {
                let doc = format!("`{}` (required: no default).", f.name);
                required.push(quote!(#[doc = #doc] pub #id: #ty));
                inits.push(quote!(#id: self.#id));
            }
        }
    }
    // Django's `get_next_by_<field>` / `get_previous_by_<field>` for non-null date and
    // datetime fields (recognised by the type's name).
    let mut by_date = Vec::new();
    for f in &def.fields {
        let temporal = matches!(f.kind, FieldKind::Column { relation: None, nullable: false })
            && super::last_segment(&f.ty)
                .is_some_and(|(i, _)| i == "NaiveDate" || i == "NaiveDateTime" || i == "DateTime");
        if !temporal {
            continue;
        }
        let name = &f.name;
        let next = format_ident!("get_next_by_{}", f.ident);
        let prev = format_ident!("get_previous_by_{}", f.ident);
        let (dn, dp) = (
            format!("The next instance by `{name}` (Django's `get_next_by_{name}`)."),
            format!("The previous instance by `{name}` (Django's `get_previous_by_{name}`)."),
        );
        by_date.push(quote! {
            #[doc = #dn]
            pub fn #next(&self, ex: &(impl ::orm::Executor + ?::core::marker::Sized)) -> ::orm::Result<Self> {
                ::orm::Persist::get_next_by(self, #name, ex)
            }
            #[doc = #dp]
            pub fn #prev(&self, ex: &(impl ::orm::Executor + ?::core::marker::Sized)) -> ::orm::Result<Self> {
                ::orm::Persist::get_previous_by(self, #name, ex)
            }
        });
    }
    let by_date = if by_date.is_empty() { quote!() } else { quote!(impl #ident { #(#by_date)* }) };
    let doc = format!(
        "The required fields of [`{ident}`]: `build()` fills the others from their defaults (Django's `{ident}(field=…)`), `create()` saves it."
    );
    quote! {
        #[doc = #doc]
        #[allow(clippy::struct_field_names)]
        #vis struct #new_ident {
            #(#required,)*
        }

        impl #new_ident {
            /// The instance, every field not given filled from its declaration.
            #[allow(clippy::needless_update)]
            pub fn build(self) -> #ident {
                #ident { #(#inits,)* }
            }

            /// Builds and saves it (an INSERT), returning it with its key set.
            pub fn create(self, ex: &(impl ::orm::Executor + ?::core::marker::Sized)) -> ::orm::Result<#ident> {
                ::orm::Persist::create(self.build(), ex)
            }
        }

        impl ::core::convert::From<#new_ident> for #ident {
            fn from(n: #new_ident) -> #ident {
                n.build()
            }
        }

        #by_date
    }
}
