//! SQLite introspection: PRAGMA table-valued functions with bound arguments, and the
//! `CREATE TABLE` text for what the PRAGMAs do not tell (check constraints, `AUTOINCREMENT`,
//! constraint names).

use super::introspection::{decimal_type, int, opt_text, parse_default, split_type_args, text};
use super::{CheckDef, ColumnDef, ColumnType, ForeignKeyDef, IndexDef, ReferentialAction, TableDef, UniqueDef};
use crate::connection::Connection;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::value::Value;

pub(crate) fn table_names(conn: &mut dyn Connection) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name",
        &[],
    )?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// The neutral type of a declared SQLite type (kept verbatim by SQLite). Names outside the
/// rendering table stay [`ColumnType::Custom`] as declared.
pub(crate) fn column_type(declared: &str) -> ColumnType {
    let (base, args) = split_type_args(declared);
    match (base.as_str(), args.as_slice()) {
        ("bool" | "boolean", []) => ColumnType::Bool,
        ("smallint", []) => ColumnType::SmallInt,
        ("integer" | "int", []) => ColumnType::Integer,
        ("bigint", []) => ColumnType::BigInt,
        ("real", []) => ColumnType::Real,
        ("double" | "double precision", []) => ColumnType::Double,
        ("decimal" | "numeric", a) if !a.is_empty() => {
            decimal_type(a).unwrap_or_else(|| ColumnType::Custom(declared.to_owned()))
        }
        ("varchar", [n]) => ColumnType::Varchar(*n),
        ("text", []) => ColumnType::Text,
        ("blob", []) => ColumnType::Bytes,
        ("date", []) => ColumnType::Date,
        ("time", []) => ColumnType::Time,
        ("datetime", []) => ColumnType::DateTime,
        ("timestamptz", []) => ColumnType::DateTimeTz,
        ("uuid", []) => ColumnType::Uuid,
        ("json", []) => ColumnType::Json,
        _ => ColumnType::Custom(declared.to_owned()),
    }
}

pub(crate) fn introspect_table(conn: &mut dyn Connection, table: &str) -> Result<Option<TableDef>> {
    let name = [Value::from(table)];
    let Some(row) = conn.query_opt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", &name)? else {
        return Ok(None);
    };
    let parsed = parse_create_table(&text(&row, 0)?);
    let mut def = TableDef::new(table);

    // Columns and primary key.
    let rows =
        conn.query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", &name)?;
    let mut pk: Vec<(i64, String)> = Vec::new();
    let mut rowid_types = Vec::new(); // columns declared exactly `INTEGER`
    for r in &rows {
        let col = text(r, 0)?;
        let declared = text(r, 1)?;
        if declared.eq_ignore_ascii_case("integer") {
            rowid_types.push(col.clone());
        }
        let mut ty = column_type(&declared);
        let auto_increment = parsed.autoincrement.iter().any(|a| a.eq_ignore_ascii_case(&col));
        if auto_increment && ty.is_integer() {
            ty = ColumnType::BigInt;
        }
        let default = match opt_text(r, 3)? {
            Some(sql) if !auto_increment => parse_default(Dialect::Sqlite, &ty, &sql),
            _ => None,
        };
        let pk_pos = int(r, 4)?;
        if pk_pos > 0 {
            pk.push((pk_pos, col.clone()));
        }
        def.columns.push(ColumnDef { name: col, ty, nullable: int(r, 2)? == 0, default, auto_increment });
    }
    pk.sort();
    def.primary_key = pk.into_iter().map(|(_, c)| c).collect();
    if let [only] = def.primary_key.as_slice() {
        // An INTEGER PRIMARY KEY is the rowid: never NULL, whatever table_info says.
        for c in def.columns.iter_mut().filter(|c| c.name == *only) {
            if c.auto_increment || rowid_types.iter().any(|n| n == only) {
                c.nullable = false;
            }
        }
    }

    // Indexes and unique constraints.
    let indexes = conn.query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)", &name)?;
    let mut parsed_uniques = parsed.uniques.clone();
    for r in &indexes {
        let index = text(r, 0)?;
        let unique = int(r, 1)? != 0;
        let origin = text(r, 2)?;
        if int(r, 3)? != 0 || origin == "pk" {
            continue;
        }
        let info =
            conn.query("SELECT name FROM pragma_index_info(?) ORDER BY seqno", &[Value::from(index.as_str())])?;
        let columns = info.iter().map(|r| opt_text(r, 0)).collect::<Result<Option<Vec<String>>>>()?;
        let Some(columns) = columns else { continue }; // an expression index
        match (unique, origin.as_str()) {
            (false, _) => def.indexes.push(IndexDef { name: index, columns }),
            (true, "u") => {
                // Recover the constraint's name from the table's SQL text (sqlite_master).
                let found = parsed_uniques.iter().position(|(_, cols)| same_names(cols, &columns));
                let constraint = found.and_then(|i| parsed_uniques.remove(i).0).unwrap_or_default();
                def.uniques.push(UniqueDef { name: constraint, columns });
            }
            (true, _) => def.uniques.push(UniqueDef { name: index, columns }),
        }
    }

    def.checks =
        parsed.checks.iter().map(|(n, e)| CheckDef { name: n.clone().unwrap_or_default(), expr: e.clone() }).collect();

    // Foreign keys: grouped by id; names from the table's SQL text.
    let rows = conn.query(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        &name,
    )?;
    let mut fks: Vec<(i64, ForeignKeyDef, bool)> = Vec::new();
    for r in &rows {
        let id = int(r, 0)?;
        if fks.last().map(|f| f.0) != Some(id) {
            let fk = ForeignKeyDef {
                name: String::new(),
                columns: Vec::new(),
                ref_table: text(r, 1)?,
                ref_columns: Vec::new(),
                on_delete: ReferentialAction::parse(&text(r, 5)?).unwrap_or_default(),
                on_update: ReferentialAction::parse(&text(r, 4)?).unwrap_or_default(),
            };
            fks.push((id, fk, false));
        }
        let entry = fks.last_mut().expect("pushed above");
        entry.1.columns.push(text(r, 2)?);
        match opt_text(r, 3)? {
            Some(to) => entry.1.ref_columns.push(to),
            None => entry.2 = true, // references the other table's primary key implicitly
        }
    }
    let mut parsed_fks = parsed.foreign_keys.clone();
    for (_, mut fk, implicit) in fks {
        if implicit {
            let rows = conn.query(
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                &[Value::from(fk.ref_table.as_str())],
            )?;
            fk.ref_columns = rows.iter().map(|r| text(r, 0)).collect::<Result<_>>()?;
        }
        let found = parsed_fks
            .iter()
            .position(|p| same_names(&p.columns, &fk.columns) && p.ref_table.eq_ignore_ascii_case(&fk.ref_table));
        if let Some(i) = found {
            fk.name = parsed_fks.remove(i).name.unwrap_or_default();
        }
        def.foreign_keys.push(fk);
    }
    Ok(Some(def))
}

fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

// ---------------------------------------------------------------------------------------
// The parser of the table's SQL text (sqlite_master.sql)

/// What the `CREATE TABLE` text says that the PRAGMAs do not.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ParsedCreate {
    /// Columns declared `PRIMARY KEY AUTOINCREMENT`.
    pub autoincrement: Vec<String>,
    /// Unique constraints (column- or table-level): name if given, columns.
    pub uniques: Vec<(Option<String>, Vec<String>)>,
    /// Check constraints: name if given, expression text between the parentheses.
    pub checks: Vec<(Option<String>, String)>,
    /// Foreign keys with their names.
    pub foreign_keys: Vec<ParsedForeignKey>,
}

/// A foreign key as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParsedForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub ref_table: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A bare word: keyword, identifier or number.
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), unquoted.
    Quoted(String),
    /// A string literal, unescaped.
    Str(String),
    /// Any other character.
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn tokenize(sql: &str) -> Vec<Token> {
    let bytes: Vec<(usize, char)> = sql.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let end_of = |i: usize| bytes.get(i).map_or(sql.len(), |(p, _)| *p);
    while i < bytes.len() {
        let (start, c) = bytes[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && bytes.get(i + 1).map(|b| b.1) == Some('-') {
            while i < bytes.len() && bytes[i].1 != '\n' {
                i += 1;
            }
        } else if c == '/' && bytes.get(i + 1).map(|b| b.1) == Some('*') {
            i += 2;
            while i < bytes.len() && !(bytes[i].1 == '*' && bytes.get(i + 1).map(|b| b.1) == Some('/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '"' | '`' | '\'' | '[') {
            let close = if c == '[' { ']' } else { c };
            let mut s = String::new();
            i += 1;
            while i < bytes.len() {
                let ch = bytes[i].1;
                if ch == close {
                    if close != ']' && bytes.get(i + 1).map(|b| b.1) == Some(close) {
                        s.push(close);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(ch);
                i += 1;
            }
            let tok = if c == '\'' { Tok::Str(s) } else { Tok::Quoted(s) };
            out.push(Token { tok, start, end: end_of(i) });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut s = String::new();
            while i < bytes.len() && (bytes[i].1.is_alphanumeric() || bytes[i].1 == '_' || bytes[i].1 == '$') {
                s.push(bytes[i].1);
                i += 1;
            }
            out.push(Token { tok: Tok::Word(s), start, end: end_of(i) });
        } else {
            i += 1;
            out.push(Token { tok: Tok::Punct(c), start, end: end_of(i) });
        }
    }
    out
}

fn is_kw(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

fn ident(t: Option<&Token>) -> Option<String> {
    match t.map(|t| &t.tok) {
        Some(Tok::Word(s) | Tok::Quoted(s) | Tok::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The index of the `)` matching the `(` at `open`, or the last token.
fn matching_close(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// The first identifier of each comma-separated part of the group opening at `open`
/// (`(a COLLATE x, "b" DESC)` → `[a, b]`), and the index after the group.
fn ident_list(tokens: &[Token], open: usize) -> (Vec<String>, usize) {
    let close = matching_close(tokens, open);
    let mut names = Vec::new();
    let mut expect = true;
    let mut depth = 0;
    for t in &tokens[open + 1..close] {
        match &t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => expect = true,
            _ if expect && depth == 0 => {
                if let Some(n) = ident(Some(t)) {
                    names.push(n);
                }
                expect = false;
            }
            _ => {}
        }
    }
    (names, close + 1)
}

/// Parses the parts of a `CREATE TABLE` statement the PRAGMAs do not report. Anything it does
/// not understand is skipped, never an error.
pub(crate) fn parse_create_table(sql: &str) -> ParsedCreate {
    let tokens = tokenize(sql);
    let mut out = ParsedCreate::default();
    let Some(open) = tokens.iter().position(|t| t.tok == Tok::Punct('(')) else {
        return out;
    };
    let close = matching_close(&tokens, open);
    // Split the body at top-level commas.
    let mut items: Vec<&[Token]> = Vec::new();
    let mut depth = 0;
    let mut start = open + 1;
    for i in open + 1..close {
        match tokens[i].tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                items.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..close.max(start)]);
    for item in items {
        let table_level =
            ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"].iter().any(|k| is_kw(item.first(), k));
        if table_level {
            table_constraint(sql, item, &mut out);
        } else if let Some(column) = ident(item.first()) {
            column_constraints(sql, &column, item, &mut out);
        }
    }
    out
}

fn expr_text(sql: &str, tokens: &[Token], open: usize) -> (String, usize) {
    let close = matching_close(tokens, open);
    let from = tokens[open].end;
    let to = tokens.get(close).map_or(from, |t| t.start.max(from));
    (sql[from..to].trim().to_owned(), close + 1)
}

fn table_constraint(sql: &str, item: &[Token], out: &mut ParsedCreate) {
    let mut i = 0;
    let mut name = None;
    if is_kw(item.get(i), "CONSTRAINT") {
        name = ident(item.get(i + 1));
        i += 2;
    }
    if is_kw(item.get(i), "UNIQUE") && is_punct(item.get(i + 1), '(') {
        out.uniques.push((name, ident_list(item, i + 1).0));
    } else if is_kw(item.get(i), "CHECK") && is_punct(item.get(i + 1), '(') {
        out.checks.push((name, expr_text(sql, item, i + 1).0));
    } else if is_kw(item.get(i), "FOREIGN") && is_kw(item.get(i + 1), "KEY") && is_punct(item.get(i + 2), '(') {
        let (columns, next) = ident_list(item, i + 2);
        if is_kw(item.get(next), "REFERENCES") {
            if let Some(ref_table) = ident(item.get(next + 1)) {
                out.foreign_keys.push(ParsedForeignKey { name, columns, ref_table });
            }
        }
    }
}

fn column_constraints(sql: &str, column: &str, item: &[Token], out: &mut ParsedCreate) {
    let mut pending: Option<String> = None;
    let mut in_primary_key = false;
    let mut i = 1;
    while i < item.len() {
        let t = Some(&item[i]);
        if is_punct(t, '(') {
            i = matching_close(item, i) + 1;
            continue;
        }
        if is_kw(t, "CONSTRAINT") {
            pending = ident(item.get(i + 1));
            in_primary_key = false;
            i += 2;
            continue;
        }
        if is_kw(t, "DEFAULT") || is_kw(t, "COLLATE") {
            // Skip the value (a group is skipped by the loop).
            i += 1;
            if is_punct(item.get(i), '-') || is_punct(item.get(i), '+') {
                i += 1;
            }
            if !is_punct(item.get(i), '(') {
                i += 1;
            }
            continue;
        }
        if is_kw(t, "PRIMARY") {
            pending = None;
            in_primary_key = true;
        } else if is_kw(t, "AUTOINCREMENT") && in_primary_key {
            out.autoincrement.push(column.to_owned());
        } else if is_kw(t, "UNIQUE") {
            out.uniques.push((pending.take(), vec![column.to_owned()]));
            in_primary_key = false;
        } else if is_kw(t, "CHECK") && is_punct(item.get(i + 1), '(') {
            let (expr, next) = expr_text(sql, item, i + 1);
            out.checks.push((pending.take(), expr));
            in_primary_key = false;
            i = next;
            continue;
        } else if is_kw(t, "REFERENCES") {
            if let Some(ref_table) = ident(item.get(i + 1)) {
                out.foreign_keys.push(ParsedForeignKey {
                    name: pending.take(),
                    columns: vec![column.to_owned()],
                    ref_table,
                });
            }
            in_primary_key = false;
            i += 2;
            continue;
        } else if is_kw(t, "NOT") || is_kw(t, "NULL") {
            in_primary_key = false;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_create_table_text() {
        let sql = r#"CREATE TABLE "post" (
            "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
            slug varchar(20) CONSTRAINT post_slug_uniq UNIQUE, -- a comment, with a comma
            "title" text DEFAULT 'a, (b' CHECK (length(title) > 0),
            [author_id] bigint CONSTRAINT post_author_fk REFERENCES author (id) ON DELETE CASCADE,
            n integer DEFAULT (1 + 2) NOT NULL,
            CONSTRAINT "post_n_title" UNIQUE ("n", title),
            CONSTRAINT post_n_positive CHECK (n > 0 AND (n < 100)),
            UNIQUE (slug, n),
            CONSTRAINT "post_editor_fk" FOREIGN KEY (n) REFERENCES "editor" ("id") /* deferred */
        )"#;
        let p = parse_create_table(sql);
        assert_eq!(p.autoincrement, ["id"]);
        assert_eq!(
            p.uniques,
            [
                (Some("post_slug_uniq".to_owned()), vec!["slug".to_owned()]),
                (Some("post_n_title".to_owned()), vec!["n".to_owned(), "title".to_owned()]),
                (None, vec!["slug".to_owned(), "n".to_owned()]),
            ]
        );
        assert_eq!(
            p.checks,
            [
                (None, "length(title) > 0".to_owned()),
                (Some("post_n_positive".to_owned()), "n > 0 AND (n < 100)".to_owned())
            ]
        );
        assert_eq!(
            p.foreign_keys,
            [
                ParsedForeignKey {
                    name: Some("post_author_fk".into()),
                    columns: vec!["author_id".into()],
                    ref_table: "author".into()
                },
                ParsedForeignKey {
                    name: Some("post_editor_fk".into()),
                    columns: vec!["n".into()],
                    ref_table: "editor".into()
                },
            ]
        );
    }

    #[test]
    fn declared_types_map_back() {
        assert_eq!(column_type("varchar(30)"), ColumnType::Varchar(30));
        assert_eq!(column_type("DECIMAL(10, 2)"), ColumnType::Decimal { precision: 10, scale: 2 });
        assert_eq!(column_type("INTEGER"), ColumnType::Integer);
        assert_eq!(column_type("Point"), ColumnType::Custom("Point".into()));
    }
}
