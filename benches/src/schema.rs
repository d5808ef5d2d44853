//! The shared schema and the setup statements every implementation runs before a workload.
//!
//! Setup is untimed and written as literal SQL (the data is the benchmark's own, never user
//! input), so every library can run it through its plain "execute this text" entry point.
//! Rows get explicit keys `1..=n`, so the same key means the same row on every backend.

use orm::Dialect;

/// Users per `loading_associations_sequentially` run, each with [`POSTS_PER_USER`] posts with
/// [`COMMENTS_PER_POST`] comments each.
pub const ASSOC_USERS: usize = 100;
/// Posts per user in `loading_associations_sequentially`.
pub const POSTS_PER_USER: usize = 10;
/// Comments per post in `loading_associations_sequentially`.
pub const COMMENTS_PER_POST: usize = 10;

/// Users in `delete_db_cascade`, each with [`CASCADE_POSTS_PER_USER`] posts with
/// [`CASCADE_COMMENTS_PER_POST`] comments each, in the `cascade_*` tables.
pub const CASCADE_USERS: usize = 100;
/// Posts per user in `delete_db_cascade`.
pub const CASCADE_POSTS_PER_USER: usize = 2;
/// Comments per post in `delete_db_cascade`.
pub const CASCADE_COMMENTS_PER_POST: usize = 2;

/// Rows per setup INSERT statement.
const CHUNK: usize = 1000;

/// `CREATE TABLE` (after dropping any leftover) for the three tables and the two foreign-key
/// indexes.
pub fn create_tables(d: Dialect) -> Vec<String> {
    let (pk, engine) = match d {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", ""),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", ""),
        Dialect::Mysql => ("BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", " ENGINE=InnoDB"),
    };
    let mut out = drop_tables();
    out.push(format!("CREATE TABLE users (id {pk}, name TEXT NOT NULL, hair_color TEXT){engine}"));
    out.push(format!("CREATE TABLE posts (id {pk}, user_id BIGINT NOT NULL, title TEXT NOT NULL, body TEXT){engine}"));
    out.push(format!("CREATE TABLE comments (id {pk}, post_id BIGINT NOT NULL, text TEXT NOT NULL){engine}"));
    out.push("CREATE INDEX posts_user_id_idx ON posts (user_id)".to_owned());
    out.push("CREATE INDEX comments_post_id_idx ON comments (post_id)".to_owned());
    // The same three tables whose foreign keys carry ON DELETE CASCADE (`delete_db_cascade`):
    // kept apart so the other workloads' tables have no constraint to check.
    out.push(format!("CREATE TABLE cascade_users (id {pk}, name TEXT NOT NULL, hair_color TEXT){engine}"));
    out.push(format!(
        "CREATE TABLE cascade_posts (id {pk}, user_id BIGINT NOT NULL, title TEXT NOT NULL, \
         FOREIGN KEY (user_id) REFERENCES cascade_users (id) ON DELETE CASCADE){engine}"
    ));
    out.push(format!(
        "CREATE TABLE cascade_comments (id {pk}, post_id BIGINT NOT NULL, text TEXT NOT NULL, \
         FOREIGN KEY (post_id) REFERENCES cascade_posts (id) ON DELETE CASCADE){engine}"
    ));
    out.push("CREATE INDEX cascade_posts_user_id_idx ON cascade_posts (user_id)".to_owned());
    out.push("CREATE INDEX cascade_comments_post_id_idx ON cascade_comments (post_id)".to_owned());
    out
}

/// `DROP TABLE IF EXISTS` for the three tables and their `cascade_*` twins.
pub fn drop_tables() -> Vec<String> {
    ["cascade_comments", "cascade_posts", "cascade_users", "comments", "posts", "users"]
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {t}"))
        .collect()
}

/// Empties the three tables (and restarts PostgreSQL's sequences).
pub fn truncate(d: Dialect) -> Vec<String> {
    match d {
        Dialect::Sqlite => ["comments", "posts", "users"].iter().map(|t| format!("DELETE FROM {t}")).collect(),
        Dialect::Postgres => vec!["TRUNCATE comments, posts, users RESTART IDENTITY".to_owned()],
        Dialect::Mysql => ["comments", "posts", "users"].iter().map(|t| format!("TRUNCATE TABLE {t}")).collect(),
    }
}

fn begin(d: Dialect) -> String {
    match d {
        Dialect::Mysql => "START TRANSACTION".to_owned(),
        _ => "BEGIN".to_owned(),
    }
}

/// After explicit keys, PostgreSQL's sequences must be moved past them.
fn sync_sequences(d: Dialect, out: &mut Vec<String>) {
    if d == Dialect::Postgres {
        for t in ["users", "posts", "comments"] {
            out.push(format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {t}), false)"
            ));
        }
    }
}

/// The hair colour of user `i` (0-based): even users black, odd brown when `colored`, else
/// NULL.
pub fn hair(i: usize, colored: bool) -> Option<&'static str> {
    colored.then_some(if i.is_multiple_of(2) { "black" } else { "brown" })
}

fn sql_opt(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("'{}'", s.replace('\'', "''")),
        None => "NULL".to_owned(),
    }
}

/// Statement batches that empty the tables and insert `n` users with keys `1..=n`, names
/// `User {i}` (0-based) and [`hair`] colours, in one transaction (which spans the batches:
/// run them on one connection). Batches are produced lazily (a million rows is 1,000
/// statements).
pub fn fill_users(d: Dialect, n: usize, colored: bool) -> impl Iterator<Item = Vec<String>> {
    let chunks = n.div_ceil(CHUNK);
    let mut head = truncate(d);
    head.push(begin(d));
    (0..chunks.max(1)).map(move |c| {
        let mut out = if c == 0 { std::mem::take(&mut head) } else { Vec::new() };
        let lo = c * CHUNK;
        let hi = ((c + 1) * CHUNK).min(n);
        if lo < hi {
            let mut s = String::with_capacity(40 * (hi - lo) + 64);
            s.push_str("INSERT INTO users (id, name, hair_color) VALUES ");
            for i in lo..hi {
                if i > lo {
                    s.push_str(", ");
                }
                s.push_str(&format!("({}, 'User {i}', {})", i + 1, sql_opt(hair(i, colored))));
            }
            out.push(s);
        }
        if c + 1 >= chunks.max(1) {
            sync_sequences(d, &mut out);
            out.push("COMMIT".to_owned());
        }
        out
    })
}

/// The data of `loading_associations_sequentially`: [`ASSOC_USERS`] coloured users, each with
/// [`POSTS_PER_USER`] posts (`Post {i} by user {uid}`, body NULL), each with
/// [`COMMENTS_PER_POST`] comments (`Comment {i} on post {pid}`).
pub fn fill_associations(d: Dialect) -> Vec<String> {
    let mut out: Vec<String> = fill_users(d, ASSOC_USERS, true).flatten().collect();
    out.pop(); // COMMIT
    let posts = ASSOC_USERS * POSTS_PER_USER;
    for lo in (0..posts).step_by(CHUNK) {
        let mut s = String::from("INSERT INTO posts (id, user_id, title, body) VALUES ");
        for p in lo..(lo + CHUNK).min(posts) {
            if p > lo {
                s.push_str(", ");
            }
            let uid = p / POSTS_PER_USER + 1;
            s.push_str(&format!("({}, {uid}, 'Post {} by user {uid}', NULL)", p + 1, p % POSTS_PER_USER));
        }
        out.push(s);
    }
    let comments = posts * COMMENTS_PER_POST;
    for lo in (0..comments).step_by(CHUNK) {
        let mut s = String::from("INSERT INTO comments (id, post_id, text) VALUES ");
        for c in lo..(lo + CHUNK).min(comments) {
            if c > lo {
                s.push_str(", ");
            }
            let pid = c / COMMENTS_PER_POST + 1;
            s.push_str(&format!("({}, {pid}, 'Comment {} on post {pid}')", c + 1, c % COMMENTS_PER_POST));
        }
        out.push(s);
    }
    sync_sequences(d, &mut out);
    out.push("COMMIT".to_owned());
    out
}

/// The data of `delete_db_cascade`, in the `cascade_*` tables (emptied first, children
/// before parents: MySQL cannot TRUNCATE a table a foreign key points at): [`CASCADE_USERS`]
/// users with [`hair`] colours, each with [`CASCADE_POSTS_PER_USER`] posts, each with
/// [`CASCADE_COMMENTS_PER_POST`] comments, in one transaction.
pub fn fill_cascade(d: Dialect) -> Vec<String> {
    let mut out: Vec<String> =
        ["cascade_comments", "cascade_posts", "cascade_users"].iter().map(|t| format!("DELETE FROM {t}")).collect();
    out.insert(0, begin(d));
    let mut users = String::from("INSERT INTO cascade_users (id, name, hair_color) VALUES ");
    let mut posts = String::from("INSERT INTO cascade_posts (id, user_id, title) VALUES ");
    let mut comments = String::from("INSERT INTO cascade_comments (id, post_id, text) VALUES ");
    for i in 0..CASCADE_USERS {
        let uid = i + 1;
        if i > 0 {
            users.push_str(", ");
        }
        users.push_str(&format!("({uid}, 'User {i}', {})", sql_opt(hair(i, true))));
        for p in 0..CASCADE_POSTS_PER_USER {
            let pid = i * CASCADE_POSTS_PER_USER + p + 1;
            if pid > 1 {
                posts.push_str(", ");
            }
            posts.push_str(&format!("({pid}, {uid}, 'Post {p} by user {uid}')"));
            for c in 0..CASCADE_COMMENTS_PER_POST {
                let cid = (pid - 1) * CASCADE_COMMENTS_PER_POST + c + 1;
                if cid > 1 {
                    comments.push_str(", ");
                }
                comments.push_str(&format!("({cid}, {pid}, 'Comment {c} on post {pid}')"));
            }
        }
    }
    out.extend([users, posts, comments, "COMMIT".to_owned()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_chunked_and_transactional() {
        let batches: Vec<Vec<String>> = fill_users(Dialect::Sqlite, 2500, true).collect();
        assert_eq!(batches.len(), 3);
        let all: Vec<String> = batches.into_iter().flatten().collect();
        assert_eq!(all[3], "BEGIN");
        assert!(all[4].starts_with(
            "INSERT INTO users (id, name, hair_color) VALUES (1, 'User 0', 'black'), (2, 'User 1', 'brown')"
        ));
        assert_eq!(all.last().map(String::as_str), Some("COMMIT"));
        let empty: Vec<String> = fill_users(Dialect::Postgres, 0, false).flatten().collect();
        assert_eq!(empty[0], "TRUNCATE comments, posts, users RESTART IDENTITY");
        assert_eq!(empty.last().map(String::as_str), Some("COMMIT"));
    }

    #[test]
    fn associations_data() {
        let all = fill_associations(Dialect::Mysql);
        assert!(all.iter().any(|s| s.contains("(1000, 100, 'Post 9 by user 100', NULL)")));
        assert!(all.iter().any(|s| s.contains("(10000, 1000, 'Comment 9 on post 1000')")));
        assert_eq!(all.iter().filter(|s| *s == "COMMIT").count(), 1);
    }

    #[test]
    fn cascade_data() {
        let all = fill_cascade(Dialect::Postgres);
        assert_eq!(all[0], "BEGIN");
        assert!(all.iter().any(|s| s.contains("(100, 'User 99', 'brown')")));
        assert!(all.iter().any(|s| s.contains("(200, 100, 'Post 1 by user 100')")));
        assert!(all.iter().any(|s| s.contains("(400, 200, 'Comment 1 on post 200')")));
        assert_eq!(all.last().map(String::as_str), Some("COMMIT"));
    }
}
