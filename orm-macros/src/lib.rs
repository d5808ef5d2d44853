//! # orm-macros
//!
//! `#[derive(Model)]` for the `orm` crate. Entry points only: each converts tokens, delegates
//! to a parse → validate → expand pipeline, and turns `syn::Error`s (spanned on the offending
//! tokens, all of them combined) into compile errors. The generated code names `::orm::…`
//! paths, so users depend on the `orm` crate alone.
//!
//! See the `orm` crate's documentation for the attributes.

mod model;
mod naming;

use proc_macro::TokenStream;

/// Derives `orm::Model` (or `orm::AbstractModel` with `#[orm(abstract)]`) for a struct with
/// named fields.
///
/// Container options, in `#[orm(...)]`: `app = "…"`, `table = "…"`, `ordering = ["-f", "g"]`,
/// `indexes = [["a", "b"]]`, `index(name = "…", fields = [...])`, `unique_together = [["a", "b"]]`,
/// `unique(name = "…", fields = [...])`, `check(name = "…", sql = "…")`, `abstract`,
/// `manager = path` (a `fn() -> QuerySet<Self>` that becomes `objects()`),
/// `verbose_name = "…"`, `renamed_from = "…"`.
///
/// Field options: `column = "…"`, `primary_key`, `unique`, `index`, `default = <literal or path>`,
/// `max_length = N`, `max_digits = N`, `decimal_places = N`, `choices = [...]`, `db_type = "…"`,
/// `help_text = "…"`, `verbose_name = "…"`, `blank`, `skip`, `auto_now`, `auto_now_add`,
/// `on_delete = Cascade|Protect|Restrict|SetNull|SetDefault|DoNothing|DbCascade|DbSetNull|DbSetDefault`, `related_name = "…"`,
/// `to_field = "…"`, `through = Model`, `validators = [path, ...]`, `base`, `renamed_from = "…"`
/// (on a column field or a `ManyToMany`), and `index = false` on a relation whose column needs
/// no index of its own (Django's `db_index=False`).
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    model::derive(input).unwrap_or_else(syn::Error::into_compile_error).into()
}
