//! CREATE EXTENSION preconditions.

use pg_test::prelude::*;

#[tokio::test]
async fn a_non_utf8_database_is_refused_up_front() {
    recreate_database(
        "cx_latin1",
        "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    )
    .await;
    let c = connect("cx_latin1").await;
    let r = c.batch_execute("CREATE EXTENSION conversations_ext").await;
    assert_eq!(sqlstate(&r), "0A000");
    assert_eq!(extension_version(&c).await, None);
    // Positive control: a UTF8 database takes it.
    let ok = fresh_database("cx_utf8", &[]).await;
    let version = default_version(&ok).await;
    assert_eq!(
        extension_version(&ok).await.as_deref(),
        Some(version.as_str())
    );
}
