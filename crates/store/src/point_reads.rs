//! Reads of one row by a unique key, the store's hottest statements: on a SQLite file
//! they run on the calling thread (`inline_reads.rs`), and otherwise, or when that cannot
//! serve them, through the readers like every other read. One decoder per row type serves
//! both paths (`FromColumns`), so the two can never read a row differently.

use crate::{Store, StoreResult};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// A value a column can be read as, by sqlx and by rusqlite alike.
pub(crate) trait Column:
    for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql
{
}

/// A row whose columns can be read by name.
pub(crate) trait Columns {
    fn column<T: Column>(&self, name: &str) -> Result<T, sqlx::Error>;
}

impl Columns for AnyRow {
    fn column<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn column<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.get(name).map_err(|error| sqlx::Error::ColumnDecode {
            index: name.to_string(),
            source: Box::new(error),
        })
    }
}

/// A row type read back from its columns.
pub(crate) trait FromColumns: Sized {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error>;
}

/// A read of one value, the column named `value` (`SELECT COUNT(*) AS value …`).
pub(crate) struct Value<T>(pub T);

impl<T: Column> FromColumns for Value<T> {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self(row.column("value")?))
    }
}

/// A key a point read looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    /// A time or a count the row is compared with (`expires_at > $2`).
    Int(i64),
}

impl rusqlite::types::ToSql for Key<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Text(text) => text.to_sql(),
            Self::Bytes(bytes) => bytes.to_sql(),
            Self::Int(int) => int.to_sql(),
        }
    }
}

fn bind_keys<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    keys: &[Key<'q>],
) -> Query<'q, Any, AnyArguments<'q>> {
    for key in keys {
        query = match *key {
            Key::Text(text) => query.bind(text),
            Key::Bytes(bytes) => query.bind(bytes.to_vec()),
            Key::Int(int) => query.bind(int),
        };
    }
    query
}

impl Store {
    /// The one row `sql` finds for `keys` (`$1`, `$2`, …), or none. `sql` must look up a
    /// unique key: on the inline path it holds a runtime thread while it runs.
    pub(crate) async fn read_by_key<T: FromColumns>(
        &self,
        sql: &str,
        keys: &[Key<'_>],
    ) -> StoreResult<Option<T>> {
        if let Some(inline) = &self.inline {
            if let Some(found) = inline.first_row(sql, keys, |row| T::from_columns(row)) {
                return Ok(found?);
            }
        }
        let row = bind_keys(sqlx::query(sql), keys)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(T::from_columns).transpose()?)
    }

    /// Every row `sql` finds for `keys`: one account's few rows (its sessions, devices,
    /// last events), read on the calling thread where it can, like `read_by_key`.
    pub(crate) async fn read_all_by_key<T: FromColumns>(
        &self,
        sql: &str,
        keys: &[Key<'_>],
    ) -> StoreResult<Vec<T>> {
        if let Some(inline) = &self.inline {
            if let Some(found) = inline.all_rows(sql, keys, |row| T::from_columns(row)) {
                return Ok(found?);
            }
        }
        let rows = bind_keys(sqlx::query(sql), keys)
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(T::from_columns).collect::<Result<_, _>>()?)
    }
}
