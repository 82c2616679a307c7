//! The whole-database checksum: md5 over every row of every table of schema support, the tables found in the catalog (so jwt_keys, member_events and any later table are covered).

use tokio_postgres::Client;

/// Every table of schema `support`, by name, from the catalog.
pub async fn support_tables(c: &Client) -> Vec<String> {
    c.query(
        "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'support' AND c.relkind IN ('r', 'p') ORDER BY 1",
        &[],
    )
    .await
    .expect("support tables")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The support tables pg_dump does not keep, by name, from the catalog (not
/// registered with pg_extension_config_dump): derived state, and the
/// notification secret, which every installation makes anew.
pub async fn not_dumped(c: &Client) -> Vec<String> {
    c.query(
        "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'support' AND c.relkind IN ('r', 'p') \
            AND c.oid <> ALL (SELECT unnest(e.extconfig) FROM pg_catalog.pg_extension e \
                               WHERE e.extname = 'conversations_ext') \
          ORDER BY 1",
        &[],
    )
    .await
    .expect("tables not dumped")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// [`by_table`] of the tables pg_dump keeps: what a dump and restore must
/// give back identical.
pub async fn dumped_by_table(c: &Client) -> Vec<(String, i64, String)> {
    let skip = not_dumped(c).await;
    by_table(c)
        .await
        .into_iter()
        .filter(|(t, _, _)| !skip.contains(t))
        .collect()
}

/// SQL giving one md5 over every row of every support table (run it as a
/// superuser, who bypasses row-level security), and the tables it covers.
/// The SQL can run inside a caller's transaction, e.g. before and after a
/// statement that is then rolled back.
pub async fn checksum_sql(c: &Client) -> (String, Vec<String>) {
    let tables = support_tables(c).await;
    // One aggregate per table (not one over a UNION ALL of them all, which
    // Citus refuses across distributed, reference and local tables).
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "(SELECT coalesce(string_agg('{t} ' || t::text, E'\\n' ORDER BY t::text), '') FROM support.{t} t)"
            )
        })
        .collect();
    let sql = format!("SELECT md5(concat_ws(E'\\n', {}))", parts.join(", "));
    (sql, tables)
}

/// The whole-database checksum now: equal before and after means nothing
/// changed, in any support table.
pub async fn checksum(superuser: &Client) -> String {
    let (sql, _) = checksum_sql(superuser).await;
    superuser
        .query_one(sql.as_str(), &[])
        .await
        .expect("checksum")
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

/// Per table: (name, rows, md5 of the rows ordered by their text), for
/// every support table: says which table differs.
pub async fn by_table(c: &Client) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for t in support_tables(c).await {
        let (rows, md5) = of_rows(c, &t, "*").await;
        out.push((t, rows, md5));
    }
    out
}

/// "table: rows md5" over the given columns of each given table (e.g. the
/// columns two versions of the extension share).
pub async fn by_columns(c: &Client, columns: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (t, cols) in columns {
        let (rows, md5) = of_rows(c, t, cols).await;
        out.push(format!("{t}: {rows} {md5}"));
    }
    out
}

/// Row count and md5 of `SELECT cols FROM support.table` ("-" when empty).
async fn of_rows(c: &Client, table: &str, cols: &str) -> (i64, String) {
    let row = c
        .query_one(
            &format!(
                "SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') \
                   FROM (SELECT {cols} FROM support.{table}) AS x"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("checksum of {table} ({cols}): {e}"));
    (row.get(0), row.get(1))
}
