//! Shared fixture models for the integration suite.
//!
//! Field docs are omitted: each field is named for what it holds.
//!
//! ```text
//!  Author 1───* Post *───* Tag          Everything: one field of every type
//!                │                       Account: a hand-chosen text key + ModelState
//!                └── editor? (nullable)  HandNote: a model written without the derive
//! ```

#![allow(missing_docs)]

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm::fields::{ColumnKind, FieldType};
use orm::prelude::*;
use orm::{ConversionError, FromValue, ModelState, ToValue, Value, ValueRef};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A user-defined field type: money in cents, stored as an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(pub i64);

impl ToValue for Cents {
    fn to_value(&self) -> Value {
        Value::Int(self.0)
    }
}

impl FromValue for Cents {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        i64::from_value_ref(v).map(Cents)
    }
}

impl FieldType for Cents {
    const KIND: ColumnKind = ColumnKind::BigInt;
    type Lookup = Cents;
}

/// One field of every supported type, nullable and not.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "kitchen")]
pub struct Everything {
    pub id: Auto<i64>,
    pub flag: bool,
    pub small: i16,
    pub medium: i32,
    pub big: i64,
    pub unsigned: u32,
    pub single: f32,
    pub double: f64,
    #[orm(max_length = 40)]
    pub short_text: String,
    pub long_text: String,
    pub blob: Vec<u8>,
    pub day: NaiveDate,
    pub clock: NaiveTime,
    pub stamp: NaiveDateTime,
    pub instant: DateTime<Utc>,
    pub uid: Uuid,
    pub doc: serde_json::Value,
    #[orm(max_digits = 12, decimal_places = 3)]
    pub price: Decimal,
    pub cents: Cents,
    pub opt_flag: Option<bool>,
    pub opt_big: Option<i64>,
    pub opt_double: Option<f64>,
    #[orm(max_length = 20)]
    pub opt_text: Option<String>,
    pub opt_blob: Option<Vec<u8>>,
    pub opt_day: Option<NaiveDate>,
    pub opt_stamp: Option<NaiveDateTime>,
    pub opt_instant: Option<DateTime<Utc>>,
    pub opt_uid: Option<Uuid>,
    pub opt_doc: Option<serde_json::Value>,
    #[orm(max_digits = 10, decimal_places = 2)]
    pub opt_price: Option<Decimal>,
    pub opt_cents: Option<Cents>,
}

fn not_shouting(s: &str) -> Result<(), String> {
    if s.len() > 3 && s.chars().all(|c| !c.is_lowercase()) {
        Err("Do not shout.".into())
    } else {
        Ok(())
    }
}

/// An author; its unique name is its natural key in fixtures.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "blog", ordering = ["name"], natural_key = ["name"])]
pub struct Author {
    pub id: Auto<i64>,
    #[orm(max_length = 50, unique, validators = [not_shouting])]
    pub name: String,
    #[orm(max_length = 100, help_text = "Where to write")]
    pub email: Option<String>,
    #[orm(max_length = 1, choices = [("a", "Active"), ("r", "Retired")], default = "a")]
    pub status: String,
}

/// A tag; its unique name is its natural key in fixtures.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "blog", natural_key = ["name"])]
pub struct Tag {
    pub id: Auto<i64>,
    #[orm(max_length = 30, unique)]
    pub name: String,
}

/// A post, with relations, indexes and constraints.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(
    app = "blog",
    ordering = ["-views", "title"],
    indexes = [["author", "views"]],
    unique(name = "blog_post_author_title_uniq", fields = ["author", "title"]),
    check(name = "blog_post_views_check", sql = "views >= 0")
)]
pub struct Post {
    pub id: Auto<i64>,
    #[orm(max_length = 200)]
    pub title: String,
    #[orm(on_delete = Cascade, related_name = "posts")]
    pub author: ForeignKey<Author>,
    #[orm(on_delete = SetNull, related_name = "edited")]
    pub editor: Option<ForeignKey<Author>>,
    #[orm(default = 0, index)]
    pub views: i64,
    #[orm(related_name = "posts")]
    pub tags: ManyToMany<Tag>,
    #[orm(skip)]
    pub scratch: Option<String>,
}

/// A hand-chosen text key: the instance's state says whether it is new.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "bank")]
pub struct Account {
    #[orm(primary_key, max_length = 20)]
    pub code: String,
    pub balance: Cents,
    pub state: ModelState,
}

/// Timestamps shared by several models (abstract: no table).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(abstract, ordering = ["-created"])]
pub struct Stamped {
    #[orm(auto_now_add)]
    pub created: Option<DateTime<Utc>>,
    #[orm(auto_now)]
    pub updated: Option<DateTime<Utc>>,
}

/// A model that embeds an abstract base.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "blog")]
pub struct Comment {
    pub id: Auto<i64>,
    #[orm(base)]
    pub stamps: Stamped,
    pub body: String,
}

pub mod hand_written;
pub use hand_written::HandNote;

/// Rows for lookups, NULL semantics, ordering and aggregates.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "shop", ordering = ["name"])]
pub struct Item {
    pub id: Auto<i64>,
    #[orm(max_length = 60)]
    pub name: String,
    #[orm(max_length = 60)]
    pub note: Option<String>,
    pub qty: i64,
    pub price: Option<f64>,
    #[orm(max_length = 20)]
    pub kind: String,
    pub at: DateTime<Utc>,
}

fn only_active() -> orm::QuerySet<Gadget> {
    orm::QuerySet::new().filter(Gadget::active().eq(true))
}

/// A model with a custom default manager: `objects()` sees active rows only.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "shop", manager = only_active)]
pub struct Gadget {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub active: bool,
}

/// A unique name, for get_or_create races.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "shop")]
pub struct Tally {
    pub id: Auto<i64>,
    #[orm(max_length = 40, unique)]
    pub name: String,
    pub hits: i64,
}

/// Three narrow columns, for streaming.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "shop")]
pub struct Reading {
    pub id: Auto<i64>,
    pub sensor: i32,
    pub value: f64,
}

/// Relations fixture: Country ←(null) Writer ← Article *─* Label, Article ← Remark;
/// Club *─* Person through Membership(role); Category ← Category (a tree).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel")]
pub struct Country {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["name"])]
pub struct Writer {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    #[orm(on_delete = SetNull, related_name = "writers")]
    pub country: Option<ForeignKey<Country>>,
    pub articles: orm::Reverse<Article>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["title"])]
pub struct Article {
    pub id: Auto<i64>,
    #[orm(max_length = 80)]
    pub title: String,
    #[orm(related_name = "articles")]
    pub writer: ForeignKey<Writer>,
    pub rating: i64,
    #[orm(related_name = "articles")]
    pub labels: ManyToMany<Label>,
    pub remarks: orm::Reverse<Remark>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["id"])]
pub struct Remark {
    pub id: Auto<i64>,
    #[orm(related_name = "remarks")]
    pub article: ForeignKey<Article>,
    #[orm(max_length = 80)]
    pub text: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["name"])]
pub struct Label {
    pub id: Auto<i64>,
    #[orm(max_length = 30, unique)]
    pub name: String,
    pub articles: orm::Reverse<Article>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["name"])]
pub struct Person {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel")]
pub struct Club {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    #[orm(through = Membership, related_name = "clubs")]
    pub members: ManyToMany<Person>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", unique_together = [["person", "club"]])]
pub struct Membership {
    pub id: Auto<i64>,
    #[orm(related_name = "memberships")]
    pub person: ForeignKey<Person>,
    #[orm(related_name = "memberships")]
    pub club: ForeignKey<Club>,
    #[orm(max_length = 20)]
    pub role: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "rel", ordering = ["name"])]
pub struct Category {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    #[orm(related_name = "children")]
    pub parent: Option<ForeignKey<Category>>,
}

/// Inheritance fixture: Place ← Restaurant ← Pizzeria (multi-table, three levels);
/// PlaceByName (proxy, its own ordering) ← OpenPlace (proxy of a proxy, a default filter).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inh", ordering = ["id"])]
pub struct Place {
    pub id: Auto<i64>,
    #[orm(max_length = 50)]
    pub name: String,
    pub open: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inh")]
pub struct Restaurant {
    #[orm(parent)]
    pub place: Place,
    pub serves_pizza: bool,
    pub seats: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inh")]
pub struct Pizzeria {
    #[orm(parent)]
    pub restaurant: Restaurant,
    #[orm(max_length = 20)]
    pub oven: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inh", proxy, ordering = ["-name"])]
pub struct PlaceByName {
    #[orm(parent)]
    pub place: Place,
}

impl PlaceByName {
    /// Proxies add behaviour: a method of their own.
    pub fn shout(&self) -> String {
        self.name.to_uppercase()
    }
}

fn open_places() -> orm::QuerySet<OpenPlace> {
    orm::QuerySet::new().filter(orm::Q::path("open", true).expect("a valid path"))
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inh", proxy, manager = open_places)]
pub struct OpenPlace {
    #[orm(parent)]
    pub by_name: PlaceByName,
}

/// Deletion fixture: Org ← Team ← Member (← Member mentor, SetNull) with Badge (Protect),
/// Task (team: Restrict, member: Cascade), Note (SetDefault to member 1), Log (DoNothing).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Org {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Team {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "teams")]
    pub org: ForeignKey<Org>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Member {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "members")]
    pub team: Option<ForeignKey<Team>>,
    #[orm(on_delete = SetNull, related_name = "mentees")]
    pub mentor: Option<ForeignKey<Member>>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Badge {
    pub id: Auto<i64>,
    #[orm(on_delete = Protect, related_name = "badges")]
    pub member: ForeignKey<Member>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Task {
    pub id: Auto<i64>,
    #[orm(on_delete = Restrict, related_name = "tasks")]
    pub team: ForeignKey<Team>,
    #[orm(on_delete = Cascade, related_name = "tasks")]
    pub member: ForeignKey<Member>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Note {
    pub id: Auto<i64>,
    #[orm(on_delete = SetDefault, default = 1, related_name = "notes")]
    pub member: ForeignKey<Member>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "del")]
pub struct Log {
    pub id: Auto<i64>,
    #[orm(on_delete = DoNothing, related_name = "logs")]
    pub member: ForeignKey<Member>,
}

// ---------------------------------------------------------------------------------------------
// Writes (app `writes`): save semantics of Django's tests/basic and tests/update_only_fields.

/// A model whose only column is its key (Django's `tests/basic` `PrimaryKeyWithDefault`-like
/// case): an UPDATE has nothing to set, so a save must ask whether the row exists.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "writes")]
pub struct OnlyKey {
    pub id: Auto<i64>,
}

/// A model with `select_on_save` (Django's `Meta.select_on_save`).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "writes", select_on_save)]
pub struct Careful {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

/// A model with a unique set of one field, a check constraint, a foreign key and a `clean`
/// hook (Django's `tests/validation` models).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(
    app = "writes",
    unique(name = "writes_part_code_uniq", fields = ["code"]),
    check(name = "writes_part_qty_nonneg", sql = "qty >= 0"),
    clean = part_clean
)]
pub struct Part {
    pub id: Auto<i64>,
    #[orm(max_length = 10)]
    pub code: String,
    pub qty: i32,
    #[orm(on_delete = Cascade, related_name = "parts")]
    pub maker: Option<ForeignKey<Careful>>,
}

/// `Part`'s model-level validation: the code `"X"` is reserved (under `__all__`), and a part
/// made by nobody needs a quantity of 0 (under `qty`).
pub fn part_clean(p: &Part, errors: &mut orm::ValidationErrors) {
    if p.code == "X" {
        errors.add(orm::NON_FIELD_ERRORS, "The code X is reserved.");
    }
    if p.maker.is_none() && p.qty > 0 {
        errors.add("qty", "A part made by nobody has no stock.");
    }
}

/// Fields declared as Django's EmailField, URLField and SlugField are: text with their
/// validators.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "writes")]
pub struct Contact {
    pub id: Auto<i64>,
    #[orm(max_length = 254, validators = [orm::validation::validate_email])]
    pub email: String,
    #[orm(max_length = 200, validators = [orm::validation::validate_url])]
    pub site: Option<String>,
    #[orm(max_length = 50, validators = [orm::validation::validate_slug])]
    pub slug: String,
}

/// Seeded randomness and case counts for the reliability tests (`differential`,
/// `metamorphic`, `injection`, `concurrency`).
pub mod fuzz {
    use super::Item;

    /// How many cases a randomised test runs: `ORM_FUZZ_CASES`, else `default` (the CI size).
    pub fn cases(default: usize) -> usize {
        std::env::var("ORM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// A small xorshift generator: the same seed gives the same cases on every run.
    pub struct Rng(pub u64);

    impl Rng {
        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number below `n`.
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        /// One of `xs`.
        pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
    }

    /// `n` random `Item` rows (names from `names`, about a third of notes and a quarter of
    /// prices NULL, one timestamp), for the differential and metamorphic tests.
    pub fn items(rng: &mut Rng, n: usize, names: &[&str], kinds: &[&str]) -> orm::Result<Vec<Item>> {
        let at = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .map_err(|e| orm::Error::TypeError(e.to_string()))?
            .with_timezone(&chrono::Utc);
        Ok((0..n)
            .map(|i| Item {
                id: orm::Auto::unset(),
                name: format!("{}{i}", rng.pick(names)),
                note: (rng.below(3) > 0).then(|| rng.pick(names).to_string()),
                qty: rng.below(10) as i64,
                price: (rng.below(4) > 0).then(|| rng.below(20) as f64 / 4.0),
                kind: rng.pick(kinds).to_string(),
                at,
            })
            .collect())
    }
}

/// The ORM's handle on a test database (every suite body starts with it).
pub fn db_of(t: &orm_backends::testing::TestDb) -> Database {
    Database::from_pool((**t).clone())
}

/// Row builders shared by the query and relation tests.
pub mod fixtures {
    use super::{Article, Country, Label, Writer};
    use orm::prelude::*;

    /// Creates a writer (of `country`, if any).
    pub fn writer(db: &Database, name: &str, country: Option<&Country>) -> orm::Result<Writer> {
        Writer {
            id: Auto::unset(),
            name: name.into(),
            country: country.map(ForeignKey::to).transpose()?,
            articles: Default::default(),
        }
        .create(db)
    }

    /// Creates an article by `w`.
    pub fn article(db: &Database, title: &str, w: &Writer, rating: i64) -> orm::Result<Article> {
        Article {
            id: Auto::unset(),
            title: title.into(),
            writer: ForeignKey::to(w)?,
            rating,
            labels: Default::default(),
            remarks: Default::default(),
        }
        .create(db)
    }

    /// Creates a label.
    pub fn label(db: &Database, name: &str) -> orm::Result<Label> {
        Label { id: Auto::unset(), name: name.into(), articles: Default::default() }.create(db)
    }
}

/// The databases of a cross-backend test at `path`: one isolated database per configured
/// backend, with the [`TestDb`](orm_backends::testing::TestDb)s that own them (keep those alive
/// while the handles are used). `None`, with the reason printed, when fewer than two backends
/// are configured: a comparison needs two.
#[allow(clippy::type_complexity)]
pub fn every_backend(
    path: &str,
) -> orm_backends::Result<Option<(Vec<(orm_backends::Backend, Database)>, Vec<orm_backends::testing::TestDb>)>> {
    use orm_backends::{testing::TestDb, Backend};
    let mut handles = Vec::new();
    let mut owners = Vec::new();
    for b in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        if let Some(t) = TestDb::open(b, &format!("{path}::{}", b.name()))? {
            handles.push((b, Database::from_pool((*t).clone())));
            owners.push(t);
        }
    }
    if handles.len() < 2 {
        eprintln!("skipped: fewer than two backends configured (set ORM_TEST_POSTGRES and ORM_TEST_MYSQL)");
        return Ok(None);
    }
    Ok(Some((handles, owners)))
}
