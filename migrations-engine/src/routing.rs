//! [`Routing`]: which database a migration runs on, and what the routers allow there.
//!
//! Django applies every migration to one connection at a time (`migrate --database <alias>`),
//! and each operation asks the routers whether its change belongs on that connection's
//! database (`router.allow_migrate(schema_editor.connection.alias, app_label,
//! model_name=…)`). Here the [`SchemaEditor`](crate::editor::SchemaEditor) carries the same
//! two things as a `Routing`: the database's alias and the question to ask. The
//! [`Executor`](crate::executor::Executor) hands its routing to every editor it makes
//! ([`Executor::with_routing`](crate::executor::Executor::with_routing)), and
//! [`Operation::database_forwards`](crate::operations::Operation::database_forwards) /
//! `database_backwards` skip an operation the routers refuse (see
//! [`Operation::allowed_on`](crate::operations::Operation::allowed_on)).
//!
//! The default routing is the `"default"` database with no routers: everything is allowed,
//! as with one database.
//!
//! ```
//! use orm_migrations::routing::Routing;
//!
//! let stats_elsewhere = |db: &str, app: &str, _model: Option<&str>| (app == "stats") == (db == "analytics");
//! let default = Routing::with_allow("default", stats_elsewhere);
//! assert!(default.allows("shop", Some("Order")));
//! assert!(!default.allows("stats", Some("Visit")));
//! assert!(Routing::with_allow("analytics", stats_elsewhere).allows("stats", None));
//! assert!(Routing::default().allows("stats", None));
//! ```

use std::sync::Arc;

/// Django's `router.allow_migrate(db, app_label, model_name=…)` as a function: may the
/// migrations of `app_label` (about model `model_name`, when the operation concerns one) run
/// on database `db`?
pub type AllowMigrate = Arc<dyn Fn(&str, &str, Option<&str>) -> bool + Send + Sync>;

/// The database alias a migration runs on and the routers' `allow_migrate` (see the
/// [module doc](self)).
#[derive(Clone)]
pub struct Routing {
    alias: String,
    allow: Option<AllowMigrate>,
}

impl Default for Routing {
    /// The `"default"` database, everything allowed.
    fn default() -> Self {
        Routing::new("default")
    }
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing").field("alias", &self.alias).field("routed", &self.allow.is_some()).finish()
    }
}

impl Routing {
    /// The database `alias` with no routers: every operation runs.
    pub fn new(alias: impl Into<String>) -> Self {
        Routing { alias: alias.into(), allow: None }
    }

    /// The database `alias`, asking `allow(alias, app_label, model_name)` before each operation.
    pub fn with_allow(
        alias: impl Into<String>,
        allow: impl Fn(&str, &str, Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Routing { alias: alias.into(), allow: Some(Arc::new(allow)) }
    }

    /// The database `alias` of the set `databases`, asking its routers
    /// ([`orm::Databases::allow_migrate_app`]: the first router with an answer decides; with
    /// none, yes). The set is shared, not copied.
    pub fn databases(databases: &orm::Databases, alias: impl Into<String>) -> Self {
        let set = databases.clone();
        Routing::with_allow(alias, move |db, app, model| set.allow_migrate_app(db, app, model))
    }

    /// The database's alias.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Are routers asked at all (otherwise everything is allowed)?
    pub fn is_routed(&self) -> bool {
        self.allow.is_some()
    }

    /// May the migrations of `app_label` (about model `model_name`, if any) change this
    /// database?
    pub fn allows(&self, app_label: &str, model_name: Option<&str>) -> bool {
        self.allow.as_ref().is_none_or(|f| f(&self.alias, app_label, model_name))
    }
}
