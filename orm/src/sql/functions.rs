//! Database functions, `CASE` and windows, per dialect (Django's `as_sqlite`, `as_postgresql`,
//! `as_mysql` of each function). Literal SQL here is fixed text (formats, unit names) or
//! integers the API typed as integers (`NTILE(4)`, a frame's `2 PRECEDING`, which MySQL
//! requires as literals); every user value is a bound parameter.

use super::*;
use crate::expressions::{CaseExpr, CastTo, FrameBound, FrameKind, TruncTo, WindowExpr};

impl Writer {
    /// A value whose type the statement alone cannot tell PostgreSQL (a `CASE` branch, a
    /// function argument): bound with its own type, as Django's `output_field` would cast.
    fn typed_value(&mut self, v: &Value) {
        let ty = match (self.d, v) {
            (Dialect::Postgres, Value::Bool(_)) => "BOOLEAN",
            (Dialect::Postgres, Value::Int(_)) => "BIGINT",
            (Dialect::Postgres, Value::Float(_)) => "DOUBLE PRECISION",
            (Dialect::Postgres, Value::Text(_)) => "TEXT",
            (Dialect::Postgres, Value::Decimal(_)) => "NUMERIC",
            (Dialect::Postgres, Value::Date(_)) => "DATE",
            (Dialect::Postgres, Value::Time(_)) => "TIME",
            (Dialect::Postgres, Value::DateTime(_)) => "TIMESTAMP",
            (Dialect::Postgres, Value::DateTimeTz(_)) => "TIMESTAMPTZ",
            (Dialect::Postgres, Value::Uuid(_)) => "UUID",
            (Dialect::Postgres, Value::Bytes(_)) => "BYTEA",
            _ => {
                self.param(v.clone());
                return;
            }
        };
        self.push("CAST(");
        self.param(v.clone());
        self.push(" AS ");
        self.push(ty);
        self.push(")");
    }

    /// An argument or a branch: values typed (see [`Writer::typed_value`]).
    fn typed(&mut self, scope: &Scope<'_>, e: &Expr) -> Result<()> {
        match e {
            Expr::Value(v) => {
                self.typed_value(v);
                Ok(())
            }
            other => self.expr(scope, other),
        }
    }

    /// `name(a, b, …)` with typed arguments.
    fn call(&mut self, scope: &Scope<'_>, name: &str, args: &[Expr]) -> Result<()> {
        self.call_ints(scope, name, args, &[])
    }

    /// `name(a, b, …)` with typed arguments, those at `ints` as SQL integers: PostgreSQL has
    /// `LEFT(text, integer)`, not `LEFT(text, bigint)`, and picks no cast by itself.
    fn call_ints(&mut self, scope: &Scope<'_>, name: &str, args: &[Expr], ints: &[usize]) -> Result<()> {
        self.push(name);
        self.push("(");
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            if ints.contains(&i) {
                self.int_arg(scope, a)?;
            } else {
                self.typed(scope, a)?;
            }
        }
        self.push(")");
        Ok(())
    }

    /// An integer argument (a count, a position): `CAST(x AS INTEGER)` on PostgreSQL.
    fn int_arg(&mut self, scope: &Scope<'_>, e: &Expr) -> Result<()> {
        if self.d != Dialect::Postgres {
            return self.expr(scope, e);
        }
        self.push("CAST(");
        self.expr(scope, e)?;
        self.push(" AS INTEGER)");
        Ok(())
    }

    fn arg(f: Func, args: &[Expr], i: usize) -> Result<&Expr> {
        args.get(i).ok_or_else(|| Error::ValueError(format!("{f:?} takes at least {} argument(s)", i + 1)))
    }

    pub(super) fn func(&mut self, scope: &Scope<'_>, f: Func, args: &[Expr]) -> Result<()> {
        let d = self.d;
        let a0 = || Self::arg(f, args, 0);
        match f {
            Func::Lower => self.call(scope, "LOWER", args),
            Func::Upper => self.call(scope, "UPPER", args),
            Func::Length if d == Dialect::Mysql => self.call(scope, "CHAR_LENGTH", args),
            Func::Length => self.call(scope, "LENGTH", args),
            Func::Coalesce => self.call(scope, "COALESCE", args),
            Func::Abs => self.call(scope, "ABS", args),
            Func::Cast(to) => self.cast(scope, a0()?, to),
            Func::Greatest | Func::Least if args.len() < 2 => {
                Err(Error::ValueError(format!("{f:?} must take at least two expressions")))
            }
            Func::Greatest if d == Dialect::Sqlite => self.call(scope, "MAX", args),
            Func::Least if d == Dialect::Sqlite => self.call(scope, "MIN", args),
            Func::Greatest => self.call(scope, "GREATEST", args),
            Func::Least => self.call(scope, "LEAST", args),
            Func::NullIf => self.call(scope, "NULLIF", args),
            Func::Concat => self.concat(scope, args),
            Func::Left if d == Dialect::Sqlite => {
                self.push("SUBSTR(");
                self.typed(scope, a0()?)?;
                self.push(", 1, ");
                self.int_arg(scope, Self::arg(f, args, 1)?)?;
                self.push(")");
                Ok(())
            }
            Func::Right if d == Dialect::Sqlite => {
                // Django's SQLite `Right`: from MAX(LENGTH(x) - n + 1, 1), so 0 gives ''.
                let (x, n) = (a0()?, Self::arg(f, args, 1)?);
                self.push("SUBSTR(");
                self.typed(scope, x)?;
                self.push(", MAX(LENGTH(");
                self.typed(scope, x)?;
                self.push(") - ");
                self.int_arg(scope, n)?;
                self.push(" + 1, 1))");
                Ok(())
            }
            Func::Left => self.call_ints(scope, "LEFT", args, &[1]),
            Func::Right => self.call_ints(scope, "RIGHT", args, &[1]),
            Func::Substr => self.call_ints(scope, "SUBSTR", args, &[1, 2]),
            Func::StrIndex if d == Dialect::Postgres => self.call(scope, "STRPOS", args),
            Func::StrIndex => self.call(scope, "INSTR", args),
            Func::Trim => self.call(scope, "TRIM", args),
            Func::LTrim => self.call(scope, "LTRIM", args),
            Func::RTrim => self.call(scope, "RTRIM", args),
            Func::Replace => self.call(scope, "REPLACE", args),
            Func::Reverse => self.call(scope, "REVERSE", args),
            Func::Repeat => self.call_ints(scope, "REPEAT", args, &[1]),
            Func::LPad => self.call_ints(scope, "LPAD", args, &[1]),
            Func::RPad => self.call_ints(scope, "RPAD", args, &[1]),
            Func::Md5 => self.call(scope, "MD5", args),
            Func::Sha1 if d == Dialect::Postgres => {
                self.push("ENCODE(DIGEST(");
                self.typed(scope, a0()?)?;
                self.push(", 'sha1'), 'hex')");
                Ok(())
            }
            Func::Sha256 if d == Dialect::Postgres => {
                self.push("ENCODE(SHA256(CONVERT_TO(");
                self.typed(scope, a0()?)?;
                self.push(", 'UTF8')), 'hex')");
                Ok(())
            }
            Func::Sha256 if d == Dialect::Mysql => {
                self.push("SHA2(");
                self.typed(scope, a0()?)?;
                self.push(", 256)");
                Ok(())
            }
            Func::Sha1 => self.call(scope, "SHA1", args),
            Func::Sha256 => self.call(scope, "SHA256", args),
            Func::Ceil => self.call(scope, "CEIL", args),
            Func::Floor => self.call(scope, "FLOOR", args),
            Func::Round if args.len() > 1 && d == Dialect::Postgres => {
                // PostgreSQL rounds to places only in `numeric`.
                self.push("ROUND(CAST(");
                self.typed(scope, a0()?)?;
                self.push(" AS NUMERIC), ");
                self.int_arg(scope, &args[1])?;
                self.push(")");
                Ok(())
            }
            Func::Round => self.call_ints(scope, "ROUND", args, &[1]),
            Func::Mod => self.call(scope, "MOD", args),
            Func::Power => self.call(scope, "POWER", args),
            Func::Sqrt => self.call(scope, "SQRT", args),
            Func::Sign => self.call(scope, "SIGN", args),
            Func::Now => {
                self.push(match d {
                    Dialect::Sqlite => "STRFTIME('%Y-%m-%d %H:%M:%f', 'now')",
                    Dialect::Postgres => "STATEMENT_TIMESTAMP()",
                    Dialect::Mysql => "UTC_TIMESTAMP(6)",
                });
                Ok(())
            }
            Func::Extract(part) => {
                let (open, close) = transform_sql(d, part);
                self.push(open);
                self.expr(scope, a0()?)?;
                self.push(close);
                Ok(())
            }
            Func::Trunc(unit) => self.trunc(scope, a0()?, unit),
            f => Err(Error::ValueError(format!(
                "{f:?} is a window function: use it inside Window::new(…) (Django's Window(expression=…))"
            ))),
        }
    }

    /// A window function inside `OVER`: the functions [`Writer::func`] refuses elsewhere.
    fn window_func(&mut self, scope: &Scope<'_>, f: Func, args: &[Expr]) -> Result<()> {
        let name = match f {
            Func::RowNumber => "ROW_NUMBER",
            Func::Rank => "RANK",
            Func::DenseRank => "DENSE_RANK",
            Func::PercentRank => "PERCENT_RANK",
            Func::CumeDist => "CUME_DIST",
            Func::FirstValue => "FIRST_VALUE",
            Func::LastValue => "LAST_VALUE",
            Func::Ntile(n) => {
                self.push(&format!("NTILE({n})"));
                return Ok(());
            }
            Func::Lag(n) | Func::Lead(n) | Func::NthValue(n) => {
                self.push(match f {
                    Func::Lag(_) => "LAG(",
                    Func::Lead(_) => "LEAD(",
                    _ => "NTH_VALUE(",
                });
                self.expr(scope, Self::arg(f, args, 0)?)?;
                self.push(&format!(", {n}"));
                if let Some(default) = args.get(1) {
                    self.push(", ");
                    self.typed(scope, default)?;
                }
                self.push(")");
                return Ok(());
            }
            other => return self.func(scope, other, args),
        };
        self.call(scope, name, args)
    }

    fn cast(&mut self, scope: &Scope<'_>, x: &Expr, to: CastTo) -> Result<()> {
        let d = self.d;
        let (open, close): (&str, String) = match (d, to) {
            (Dialect::Sqlite, CastTo::Date) => ("DATE(", ")".into()),
            (Dialect::Sqlite, CastTo::DateTime) => ("STRFTIME('%Y-%m-%d %H:%M:%f', ", ")".into()),
            (Dialect::Sqlite, CastTo::Time) => ("STRFTIME('%H:%M:%f', ", ")".into()),
            (_, to) => {
                let ty = match (d, to) {
                    (Dialect::Sqlite, CastTo::Integer) => "INTEGER".into(),
                    (Dialect::Sqlite, CastTo::Float) => "REAL".into(),
                    (Dialect::Sqlite, CastTo::Text) => "TEXT".into(),
                    (Dialect::Sqlite, CastTo::Decimal { .. }) => "NUMERIC".into(),
                    (Dialect::Postgres, CastTo::Integer) => "BIGINT".into(),
                    (Dialect::Postgres, CastTo::Float) => "DOUBLE PRECISION".into(),
                    (Dialect::Postgres, CastTo::Text) => "TEXT".into(),
                    (Dialect::Postgres, CastTo::DateTime) => "TIMESTAMP".into(),
                    (Dialect::Mysql, CastTo::Integer) => "SIGNED".into(),
                    (Dialect::Mysql, CastTo::Float) => "DOUBLE".into(),
                    (Dialect::Mysql, CastTo::Text) => "CHAR".into(),
                    (Dialect::Mysql, CastTo::DateTime) => "DATETIME(6)".into(),
                    (Dialect::Mysql, CastTo::Time) => "TIME(6)".into(),
                    (_, CastTo::Decimal { max_digits, decimal_places }) => {
                        format!("DECIMAL({max_digits}, {decimal_places})")
                    }
                    (_, CastTo::Date) => "DATE".into(),
                    (_, CastTo::Time) => "TIME".into(),
                    (_, CastTo::DateTime) => "TIMESTAMP".into(),
                };
                ("CAST(", format!(" AS {ty})"))
            }
        };
        self.push(open);
        self.typed(scope, x)?;
        self.push(&close);
        Ok(())
    }

    fn concat(&mut self, scope: &Scope<'_>, args: &[Expr]) -> Result<()> {
        match self.d {
            Dialect::Sqlite => {
                self.push("(");
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.push(" || ");
                    }
                    self.push("COALESCE(");
                    self.typed(scope, a)?;
                    self.push(", '')");
                }
                self.push(")");
            }
            // PostgreSQL's CONCAT skips NULLs; MySQL's CONCAT_WS too (its CONCAT gives NULL).
            Dialect::Postgres => self.call(scope, "CONCAT", args)?,
            Dialect::Mysql => {
                self.push("CONCAT_WS(''");
                for a in args {
                    self.push(", ");
                    self.typed(scope, a)?;
                }
                self.push(")");
            }
        }
        Ok(())
    }

    /// Is `e` a date (not a datetime): a date column, or a date made by a cast or trunc?
    fn is_date(scope: &Scope<'_>, e: &Expr) -> bool {
        match e {
            Expr::Field(p) => {
                matches!(
                    scope.resolve(p),
                    Ok(Target::Column { field, transform: None, .. }) if field.kind == ColumnKind::Date
                ) || matches!(scope.resolve(p), Ok(Target::Column { transform: Some(Transform::Date), .. }))
            }
            Expr::Value(Value::Date(_)) => true,
            Expr::Func(Func::Cast(CastTo::Date), _) => true,
            Expr::Func(Func::Trunc(_), args) => args.first().is_some_and(|a| Self::is_date(scope, a)),
            _ => false,
        }
    }

    fn trunc(&mut self, scope: &Scope<'_>, x: &Expr, unit: TruncTo) -> Result<()> {
        let date = Self::is_date(scope, x);
        if date && unit.is_time_unit() {
            return Err(Error::ValueError(format!("Cannot truncate a date to {unit:?}: it has no time of day.")));
        }
        match self.d {
            Dialect::Sqlite => {
                let day = if date { "" } else { " 00:00:00" };
                let fmt = match unit {
                    TruncTo::Year => format!("%Y-01-01{day}"),
                    TruncTo::Quarter | TruncTo::Month => format!("%Y-%m-01{day}"),
                    TruncTo::Week | TruncTo::Day => format!("%Y-%m-%d{day}"),
                    TruncTo::Hour => "%Y-%m-%d %H:00:00".into(),
                    TruncTo::Minute => "%Y-%m-%d %H:%M:00".into(),
                    TruncTo::Second => "%Y-%m-%d %H:%M:%S".into(),
                };
                self.push(&format!("STRFTIME('{fmt}', "));
                self.expr(scope, x)?;
                match unit {
                    // Back to the quarter's first month, or to the Monday.
                    TruncTo::Quarter => {
                        self.push(", PRINTF('-%d months', (CAST(STRFTIME('%m', ");
                        self.expr(scope, x)?;
                        self.push(") AS INTEGER) - 1) % 3)");
                    }
                    TruncTo::Week => {
                        self.push(", PRINTF('-%d days', (CAST(STRFTIME('%w', ");
                        self.expr(scope, x)?;
                        self.push(") AS INTEGER) + 6) % 7)");
                    }
                    _ => {}
                }
                self.push(")");
            }
            Dialect::Postgres => {
                let name = match unit {
                    TruncTo::Year => "year",
                    TruncTo::Quarter => "quarter",
                    TruncTo::Month => "month",
                    TruncTo::Week => "week",
                    TruncTo::Day => "day",
                    TruncTo::Hour => "hour",
                    TruncTo::Minute => "minute",
                    TruncTo::Second => "second",
                };
                self.push(if date { "CAST(DATE_TRUNC('" } else { "DATE_TRUNC('" });
                self.push(name);
                self.push("', ");
                self.expr(scope, x)?;
                self.push(if date { ") AS DATE)" } else { ")" });
            }
            Dialect::Mysql => {
                let cast = if date { " AS DATE)" } else { " AS DATETIME(6))" };
                match unit {
                    TruncTo::Quarter => {
                        self.push("CAST(MAKEDATE(YEAR(");
                        self.expr(scope, x)?;
                        self.push("), 1) + INTERVAL QUARTER(");
                        self.expr(scope, x)?;
                        self.push(") QUARTER - INTERVAL 1 QUARTER");
                    }
                    TruncTo::Week => {
                        self.push("CAST(DATE_SUB(DATE(");
                        self.expr(scope, x)?;
                        self.push("), INTERVAL WEEKDAY(");
                        self.expr(scope, x)?;
                        self.push(") DAY)");
                    }
                    _ => {
                        let day = if date { "" } else { " 00:00:00" };
                        let fmt = match unit {
                            TruncTo::Year => format!("%Y-01-01{day}"),
                            TruncTo::Month => format!("%Y-%m-01{day}"),
                            TruncTo::Hour => "%Y-%m-%d %H:00:00".into(),
                            TruncTo::Minute => "%Y-%m-%d %H:%i:00".into(),
                            TruncTo::Second => "%Y-%m-%d %H:%i:%s".into(),
                            _ => format!("%Y-%m-%d{day}"),
                        };
                        self.push("CAST(DATE_FORMAT(");
                        self.expr(scope, x)?;
                        self.push(&format!(", '{fmt}')"));
                    }
                }
                self.push(cast);
            }
        }
        Ok(())
    }

    /// `CASE WHEN … THEN … ELSE … END`. A branch whose condition can never hold is left out
    /// and one that always holds ends the list (Django skips `When(pk__in=[])`); with no
    /// branch left, the default alone.
    pub(super) fn case(&mut self, scope: &Scope<'_>, c: &CaseExpr) -> Result<()> {
        let mut branches = Vec::with_capacity(c.whens.len());
        let mut fallback = c.default.as_ref();
        for w in &c.whens {
            match w.condition.constant() {
                Some(false) => continue,
                Some(true) => {
                    fallback = Some(&w.then);
                    break;
                }
                None => branches.push(w),
            }
        }
        if branches.is_empty() {
            return match fallback {
                Some(e) => self.typed(scope, e),
                None => {
                    self.push("NULL");
                    Ok(())
                }
            };
        }
        self.push("CASE");
        for w in branches {
            self.push(" WHEN ");
            self.node(scope, &w.condition, false)?;
            self.push(" THEN ");
            self.typed(scope, &w.then)?;
        }
        if let Some(e) = fallback {
            self.push(" ELSE ");
            self.typed(scope, e)?;
        }
        self.push(" END");
        Ok(())
    }

    /// `f(…) OVER (PARTITION BY … ORDER BY … frame)`; an aggregate's `default` wraps the
    /// whole window (`COALESCE(SUM(x) OVER (…), 0)`).
    pub(super) fn window(&mut self, scope: &Scope<'_>, w: &WindowExpr) -> Result<()> {
        if let (Dialect::Mysql, Expr::Func(f @ (Func::Lag(n) | Func::Lead(n)), args)) = (self.d, &w.expression) {
            if let [x, default] = args.as_slice() {
                // MariaDB's LAG and LEAD take no default: the default where the row `n` away
                // does not exist (a one-row frame on it counts 0), the value otherwise.
                let at = if matches!(f, Func::Lag(_)) { FrameBound::Preceding(*n) } else { FrameBound::Following(*n) };
                self.push("CASE WHEN COUNT(*)");
                self.over(scope, w, Some(crate::expressions::Frame::rows(at, at)))?;
                self.push(" = 0 THEN ");
                self.typed(scope, default)?;
                self.push(" ELSE ");
                self.window_func(scope, *f, std::slice::from_ref(x))?;
                self.over(scope, w, None)?;
                self.push(" END");
                return Ok(());
            }
        }
        let default = match &w.expression {
            Expr::Aggregate(a) => a.default.clone(),
            _ => None,
        };
        if default.is_some() {
            self.push("COALESCE(");
        }
        match &w.expression {
            Expr::Func(f, args) => self.window_func(scope, *f, args)?,
            Expr::Aggregate(a) if a.default.is_some() => {
                let plain = crate::expressions::Aggregate { default: None, ..(**a).clone() };
                self.expr(scope, &Expr::Aggregate(Box::new(plain)))?;
            }
            Expr::Aggregate(_) => self.expr(scope, &w.expression)?,
            other => {
                return Err(Error::ValueError(format!(
                    "Expression '{other:?}' isn't compatible with OVER clauses: a window takes a window function or an aggregate."
                )))
            }
        }
        self.over(scope, w, w.frame)?;
        if let Some(v) = default {
            self.push(", ");
            self.typed_value(&v);
            self.push(")");
        }
        Ok(())
    }

    /// ` OVER (PARTITION BY … ORDER BY … frame)` of `w`, with `frame`.
    fn over(&mut self, scope: &Scope<'_>, w: &WindowExpr, frame: Option<crate::expressions::Frame>) -> Result<()> {
        self.push(" OVER (");
        let mut space = false;
        if !w.partition_by.is_empty() {
            self.push("PARTITION BY ");
            for (i, e) in w.partition_by.iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.expr(scope, e)?;
            }
            space = true;
        }
        if !w.order_by.is_empty() {
            if space {
                self.push(" ");
            }
            let terms = expand_terms(scope.meta, &w.order_by)?;
            self.push("ORDER BY ");
            self.order_terms(scope, &terms)?;
            space = true;
        }
        if let Some(frame) = frame {
            if space {
                self.push(" ");
            }
            self.push(match frame.kind {
                FrameKind::Rows => "ROWS BETWEEN ",
                FrameKind::Range => "RANGE BETWEEN ",
            });
            self.frame_bound(frame.start);
            self.push(" AND ");
            self.frame_bound(frame.end);
        }
        self.push(")");
        Ok(())
    }

    fn frame_bound(&mut self, b: FrameBound) {
        match b {
            FrameBound::UnboundedPreceding => self.push("UNBOUNDED PRECEDING"),
            FrameBound::Preceding(n) => self.push(&format!("{n} PRECEDING")),
            FrameBound::CurrentRow => self.push("CURRENT ROW"),
            FrameBound::Following(n) => self.push(&format!("{n} FOLLOWING")),
            FrameBound::UnboundedFollowing => self.push("UNBOUNDED FOLLOWING"),
        }
    }
}
