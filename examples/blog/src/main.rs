// The example is a binary: its models are not a public API, so field docs are optional here.
#![allow(missing_docs)]

//! The example application: a small blog on an embedded SQLite file.
//!
//! `cargo run -p blog` migrates `blog.db` (next to where it runs) with the migrations in
//! `migrations/` (compiled into the binary), then saves, reads, updates and deletes, printing
//! what happens. Pass a database URL as the first argument to run it elsewhere:
//! `cargo run -p blog -- postgres://postgres@127.0.0.1/test`.
//!
//! Several databases: with `ORM_DATABASE_DEFAULT_URL` (and more `ORM_DATABASE_<ALIAS>_URL`)
//! set, `cargo run -p blog -- --database <alias>` runs on that set, writing to `<alias>`
//! (`default` when not given) and reading from every alias whose name starts with `replica`
//! through a [`PrimaryReplicaRouter`](orm::PrimaryReplicaRouter) with read-your-writes, so the
//! demo reads what it just wrote even from a streaming replica.
//!
//! Any other first argument is a migrations subcommand: `cargo run -p blog -- makemigrations`,
//! `migrate [--database <url>]`, `showmigrations`, `sqlmigrate blog 0001_initial`,
//! `migrate blog zero`, `check`, `lint`, `inspectdb` …

use orm::chrono::{DateTime, Utc};
use orm::prelude::*;
use orm::serializers;

/// Timestamps shared by the models below (abstract: no table of its own).
#[derive(Model, Debug, Clone)]
#[orm(abstract)]
pub struct Timestamped {
    #[orm(auto_now_add)]
    pub created_at: Option<DateTime<Utc>>,
    #[orm(auto_now)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A blog author.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog", ordering = ["name"])]
pub struct Author {
    pub id: Auto<i64>,
    #[orm(max_length = 100, unique)]
    pub name: String,
    #[orm(max_length = 200)]
    pub email: Option<String>,
    /// Filled by `prefetch_related("posts")`.
    pub posts: Reverse<Post>,
}

/// A tag.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog")]
pub struct Tag {
    pub id: Auto<i64>,
    #[orm(max_length = 50, unique)]
    pub name: String,
}

/// A post.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog", ordering = ["-views", "title"], indexes = [["author", "views"]])]
pub struct Post {
    pub id: Auto<i64>,
    #[orm(base)]
    pub stamps: Timestamped,
    #[orm(max_length = 200)]
    pub title: String,
    #[orm(on_delete = Cascade, related_name = "posts")]
    pub author: ForeignKey<Author>,
    #[orm(default = 0)]
    pub views: i64,
    #[orm(related_name = "posts")]
    pub tags: ManyToMany<Tag>,
    /// Filled by `prefetch_related("comments")`.
    pub comments: Reverse<Comment>,
}

/// A comment on a post.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog", ordering = ["id"])]
pub struct Comment {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "comments")]
    pub post: ForeignKey<Post>,
    #[orm(max_length = 500)]
    pub body: String,
}

/// An author's post pinned to their profile. `on_delete = Protect`: an author with pins
/// cannot be deleted until the pins are removed (the deletion collector refuses, with
/// Django's message, before deleting anything).
#[derive(Model, Debug, Clone)]
#[orm(app = "blog")]
pub struct Pin {
    pub id: Auto<i64>,
    #[orm(on_delete = Protect, related_name = "pins")]
    pub author: ForeignKey<Author>,
    #[orm(on_delete = Cascade, related_name = "pins")]
    pub post: ForeignKey<Post>,
}

/// A post with an editor's pick on top: multi-table inheritance. Its table holds only its own
/// fields and `post_ptr_id`, the key shared with its `Post` row; reads join the two.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog")]
pub struct FeaturedPost {
    #[orm(parent)]
    pub post: Post,
    #[orm(max_length = 200)]
    pub blurb: String,
}

/// Posts in alphabetical order: a proxy (no table: it reads and writes `Post`'s) with an
/// ordering and a method of its own.
#[derive(Model, Debug, Clone)]
#[orm(app = "blog", proxy, ordering = ["title"])]
pub struct PostByTitle {
    #[orm(parent)]
    pub post: Post,
}

impl PostByTitle {
    /// The title with its first letter, for an index page.
    pub fn index_entry(&self) -> String {
        format!("{}: {}", self.title.chars().next().unwrap_or('?'), self.title)
    }
}

fn schema() -> Schema {
    Schema::new()
        .model::<Author>()
        .model::<Tag>()
        .model::<Post>()
        .model::<Comment>()
        .model::<Pin>()
        .model::<FeaturedPost>()
        .model::<PostByTitle>()
}

/// The models and migrations the command line works on (`cargo run -p blog -- <subcommand>`).
///
/// With `ORM_DATABASE_DEFAULT_URL` set, `--database <alias>` names a database of the
/// environment's set, migrated under the demo's router: `migrate --database replica` records
/// the history there and creates nothing (the replica gets its tables by replication).
fn registry() -> orm_migrations::cli::Registry {
    let registry = orm_migrations::registry![Author, Tag, Post, Comment, Pin, FeaturedPost, PostByTitle]
        .database("sqlite://blog.db")
        .embedded(orm_migrations::embed_migrations!("migrations"));
    if std::env::var_os("ORM_DATABASE_DEFAULT_URL").is_none() {
        return registry;
    }
    match databases("", orm::DEFAULT_DB_ALIAS) {
        Ok(set) => registry.databases(set),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Brings the database up to date with the migrations compiled into this binary (a
/// `blog.db` made by an older demo, without migration records, is taken over as is).
fn migrate(db: &Database) -> Result<(), orm_migrations::MigrationError> {
    use orm_migrations::executor::{Executor, MigrateOptions, Target};
    let loader = orm_migrations::loader::Loader::from_embedded(&orm_migrations::embed_migrations!("migrations"))?;
    let mut conn = db.pool().get()?;
    let options = MigrateOptions { fake_initial: true, ..Default::default() };
    let steps = Executor::new(&mut *conn, &loader).with_progress(|l| println!("{l}")).migrate(&Target::All, options)?;
    println!("migrations: {} applied now, the database is up to date", steps.len());
    Ok(())
}

/// The databases the demo runs on: the environment's `ORM_DATABASE_<ALIAS>_URL` when
/// `ORM_DATABASE_DEFAULT_URL` is set, else `url` alone as `"default"`; `primary` takes the
/// writes and the `replica…` aliases the reads.
fn databases(url: &str, primary: &str) -> orm::Result<Databases> {
    use orm::{PrimaryReplicaRouter, ReadYourWrites};
    let builder = if std::env::var_os("ORM_DATABASE_DEFAULT_URL").is_some() {
        Databases::from_env()?
    } else {
        Databases::builder().database("default", url)?
    };
    let aliases = builder.aliases();
    let replicas = aliases.iter().copied().filter(|a| a.starts_with("replica"));
    let router = PrimaryReplicaRouter::new(primary, replicas)?
        .read_your_writes(ReadYourWrites::UntilReplayed { at_most: std::time::Duration::from_secs(5) });
    builder.router(router).build()
}

fn run(url: &str, primary: &str) -> orm::Result<()> {
    let dbs = databases(url, primary)?;
    let db = &dbs;
    let main = dbs.get(primary)?;
    println!(
        "connected to {} as '{primary}' ({}); databases: {}",
        describe(url),
        main.dialect().name(),
        dbs.aliases().join(", ")
    );
    migrate(main).map_err(|e| orm::Error::ImproperlyConfigured(format!("migrating '{primary}': {e}")))?;
    // Start the demo from empty tables (the collector cascades to posts, comments and tags'
    // links; pins protect their authors, so they go first).
    Pin::objects().delete(db)?;
    Author::objects().delete(&db)?;
    Tag::objects().delete(&db)?;
    println!("tables: {}", schema().tables()?.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "));

    // Signals hang off this database handle (not process-global): every save of a Post through
    // `db`, or a transaction it opens, runs this receiver, inside the save's transaction.
    db.signals().post_save::<Post>().connect(|e| {
        println!("  [post_save] {:?} (created: {})", e.instance.title, e.created);
        Ok(())
    });

    let mut ann = Author { id: Auto::unset(), name: "Ann".into(), email: None, posts: Reverse::new() };
    ann.save(&db)?;
    println!("saved {} with id {}", ann.name, ann.id);
    let bob =
        Author { id: Auto::unset(), name: "Bob".into(), email: Some("bob@example.com".into()), posts: Reverse::new() }
            .create(&db)?;
    println!("created {} with id {}", bob.name, bob.id);

    for (title, views, author) in
        [("Hello, ORM", 10, &ann), ("Rust in production", 42, &ann), ("Draft: joins", 0, &bob)]
    {
        // The derive's constructor: the required fields; `views` defaults to 0, the caches
        // start empty, the key unset.
        let mut post = NewPost {
            stamps: Timestamped { created_at: None, updated_at: None },
            title: title.into(),
            author: ForeignKey::to(author)?,
        }
        .build();
        post.views = views;
        post.save(&db)?;
        println!(
            "saved post {:?} (id {}, created {:?})",
            post.title,
            post.id,
            post.stamps.created_at.map(|t| t.to_rfc3339())
        );
    }

    let popular = Post::objects().filter(Post::views().gt(5) & !Post::title().icontains("draft"));
    println!("SQL: {}", popular.to_sql(db.dialect())?.0);
    for p in popular.fetch(&db)? {
        println!("  popular: {:?} with {} views", p.title, p.views);
    }
    let n = Post::objects().filter_path("title__istartswith", "rust")?.count(&db)?;
    println!("posts starting with 'rust' (any case): {n}");
    match Post::objects().filter_path("titel__icontains", "x") {
        Err(e) => println!("a typo is caught before any SQL: {e}"),
        Ok(_) => unreachable!("`titel` is not a field"),
    }

    let mut first = Post::objects().first(&db)?.expect("three posts");
    let author_name = first.author.get(&db)?.name.clone();
    println!("most viewed: {:?} by {author_name}", first.title);
    first.views += 1;
    first.save_with(&db, &SaveOptions::update_fields(["views"]))?;
    println!("updated its views to {}", first.views);

    // A report: each post's rank by views among its author's (a window function) and how far
    // it reached (a conditional expression), in one query.
    use orm::expressions::{functions::Rank, Case, When, Window};
    let report = Post::objects()
        .annotate("rank", Window::new(Rank::new()).partition_by([Post::author()]).order_by(["-views"]))
        .annotate(
            "reach",
            Case::new([When::new(Post::views().gte(20), "wide"), When::new(Post::views().gt(0), "some")])
                .default("none"),
        )
        .order_by(["author", "rank"])
        .fetch_annotated(&db)?;
    for r in &report {
        println!(
            "  report: {:?} is #{} of its author's posts, reach {}",
            r.object.title,
            r.get::<i64>("rank")?,
            r.get::<String>("reach")?
        );
    }

    // Relations: tags on posts, comments, then everything loaded without N+1 queries.
    let rust = Tag { id: Auto::unset(), name: "rust".into() }.create(&db)?;
    let orm_tag = Tag { id: Auto::unset(), name: "orm".into() }.create(&db)?;
    for p in Post::objects().fetch(&db)? {
        p.tags().add([&rust], &db)?;
        if p.title.contains("ORM") {
            p.tags().add([&orm_tag], &db)?;
        }
        for i in 1..=2 {
            Comment { id: Auto::unset(), post: ForeignKey::to(&p)?, body: format!("comment {i} on {}", p.title) }
                .create(&db)?;
        }
    }
    let capture = db.capture_queries();
    let authors = Author::objects().prefetch_related(["posts__comments", "posts__tags"]).fetch(&db)?;
    for a in &authors {
        for p in a.posts.cached().unwrap_or_default() {
            let tags: Vec<&str> = p.tags.cached().unwrap_or_default().iter().map(|t| t.name.as_str()).collect();
            let comments = p.comments.cached().map_or(0, |c| c.len());
            println!("  {} wrote {:?} [{}] with {comments} comments", a.name, p.title, tags.join(", "));
        }
    }
    println!("authors, posts, comments and tags loaded with {} queries (no N+1)", capture.len());
    drop(capture);
    let capture = db.capture_queries();
    for c in Comment::objects().select_related(["post__author"]).limit(2).fetch(&db)? {
        let post = c.post.cached().expect("selected");
        println!("  {:?} on {:?} by {}", c.body, post.title, post.author.cached().map_or("?", |a| a.name.as_str()));
    }
    println!("comments with their posts and authors: {} query", capture.len());
    drop(capture);

    // Multi-table inheritance: a featured post is a post (one Post row, one FeaturedPost row).
    let mut featured = FeaturedPost {
        post: Post {
            id: Auto::unset(),
            stamps: Timestamped { created_at: None, updated_at: None },
            title: "Announcing migrations".into(),
            author: ForeignKey::to(&ann)?,
            views: 7,
            tags: ManyToMany::new(),
            comments: Reverse::new(),
        },
        blurb: "Editor's pick".into(),
    };
    featured.save(&db)?;
    let pk = featured.post.id.get().unwrap_or_default();
    let again = FeaturedPost::objects().filter(Post::views().on::<FeaturedPost>().gte(7)).get(&db)?;
    println!("featured post {:?} ({}), read with its Post row in one query", again.title, again.blurb);
    let as_post = Post::objects().get_pk(pk, &db)?;
    println!("the same row as a plain post: {:?}, {} views", as_post.title, as_post.views);

    // A proxy: the same table, its own ordering and methods.
    for p in PostByTitle::objects().fetch(&db)? {
        println!("  index: {}", p.index_entry());
    }

    // Delete signals reach every object a deletion takes with it: deleting the featured post
    // deletes its Post row (the parent) and, by cascade, that post's comments.
    Comment { id: Auto::unset(), post: ForeignKey::to(&as_post)?, body: "first!".into() }.create(&db)?;
    let receiver = db.signals().pre_delete::<dyn std::any::Any>().connect(|e| {
        println!("  [pre_delete] a {} goes", e.sender.label());
        Ok(())
    });
    println!("deleted the featured post: {}", featured.delete(&db)?);
    db.signals().pre_delete::<dyn std::any::Any>().disconnect(receiver);

    let fixture = serializers::dump_queryset(&Author::objects(), &db)?;
    println!("authors as a fixture: {fixture}");

    let mut bob = Author::objects().get_pk(bob.id.get().unwrap_or_default(), &db)?;
    bob.email = None;
    bob.save(&db)?;
    // Deleting an author whose pin protects them: refused, nothing deleted, and the error
    // says why in Django's words.
    let draft = Post::objects().filter(Post::title().eq("Draft: joins")).first(&db)?;
    if let Some(draft) = draft {
        let pin =
            Pin { id: Auto::unset(), author: ForeignKey::to(&bob)?, post: ForeignKey::to(&draft)? }.create(&db)?;
        match bob.clone().delete(&db) {
            Err(e @ orm::Error::ProtectedError { .. }) => println!("deleting Bob is refused: {e}"),
            other => println!("unexpected: {other:?}"),
        }
        let mut pin = pin;
        pin.delete(&db)?;
        println!("unpinned; Bob can go now");
    }
    println!(
        "deleted Bob's drafts: {}",
        Post::objects().filter(Post::author().eq(bob.id.get().unwrap_or_default())).delete(&db)?
    );
    println!("deleted Bob: {}", bob.delete(&db)?);
    match Author::objects().filter(Author::name().eq("Bob")).get(&db) {
        Err(e) if e.is_does_not_exist() => println!("looking Bob up again: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    println!("authors left: {}, posts left: {}", Author::objects().count(&db)?, Post::objects().count(&db)?);
    Ok(())
}

/// What the demo says it connected to (the environment's set, or the URL).
fn describe(url: &str) -> String {
    match std::env::var_os("ORM_DATABASE_DEFAULT_URL") {
        Some(_) => "the ORM_DATABASE_<ALIAS>_URL databases".to_owned(),
        None => url.to_owned(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo run -p blog -- --database <alias>`: the demo on that alias of the environment's set.
    let (primary, rest) = match args.first().map(String::as_str) {
        Some("--database") => match args.get(1) {
            Some(alias) => (alias.clone(), &args[2..]),
            None => {
                eprintln!("error: --database needs an alias");
                std::process::exit(2);
            }
        },
        _ => ("default".to_owned(), &args[..]),
    };
    // `cargo run -p blog -- makemigrations|migrate|showmigrations|…`: the migrations command line.
    let first = rest.first().cloned();
    if first.as_deref().is_some_and(|a| !a.contains(':')) {
        orm_migrations::cli::main(registry());
    }
    let url = first.unwrap_or_else(|| "sqlite://blog.db".to_owned());
    if let Err(e) = run(&url, &primary) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
