// Shared hidden setup for doctests (included with `include!`): a `Note` model and an
// in-memory SQLite database holding three notes.
use orm::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(app = "demo")]
pub struct Note {
    pub id: Auto<i64>,
    #[orm(max_length = 100)]
    pub title: String,
}

#[allow(dead_code)]
fn setup() -> orm::Result<Database> {
    let db = Database::connect("sqlite::memory:")?;
    Schema::new().model::<Note>().create_all(&db)?;
    for t in ["Rust ORMs", "Rust in production", "Cooking"] {
        Note { id: Auto::unset(), title: t.into() }.create(&db)?;
    }
    Ok(db)
}
