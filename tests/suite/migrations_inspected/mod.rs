//! inspectdb's output for the fixture schema on SQLite, compiled as part of the suite (see
//! `migrations_cli.rs`; `ORM_BLESS=1` regenerates `models.rs`).

#[rustfmt::skip]
mod models;

/// The inspected models.
pub fn all() -> Vec<&'static orm::ModelMeta> {
    use orm::Model;
    vec![
        models::BlogAuthor::meta(),
        models::BlogComment::meta(),
        models::BlogPost::meta(),
        models::BlogPostTags::meta(),
        models::BlogTag::meta(),
        models::KitchenEverything::meta(),
        models::RelCategory::meta(),
    ]
}
