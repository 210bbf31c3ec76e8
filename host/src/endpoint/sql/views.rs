//! Creating a plan's views, written once for the SQL targets that create
//! them over [`SqlConn`] (PostgreSQL, MySQL; SQLite also validates each
//! view it creates, since it accepts a view over a missing table).

use super::{SqlConn, quote_ident};
use crate::endpoint::{EndpointError, IfExists, ViewOutcome};
use crate::model::ViewDef;

/// `CREATE VIEW` for each view, in the target's dialect already. With
/// [`IfExists::Drop`] every view of those names is dropped first (`drop`
/// is what follows `DROP VIEW IF EXISTS name`: PostgreSQL's `CASCADE`, or
/// nothing), all before any is created, so a view created here is never
/// dropped again; a table of that name is never touched. A view that fails
/// (it reads a view not created yet) is tried again after the others,
/// until a round creates nothing more; what still fails is reported with
/// the server's message. Only a transient failure (a lost connection)
/// fails the call.
pub async fn create_views(
    conn: &mut dyn SqlConn,
    views: &[ViewDef],
    if_exists: IfExists,
    drop: &str,
) -> Result<Vec<ViewOutcome>, EndpointError> {
    let mut errors: Vec<Option<String>> = vec![None; views.len()];
    let mut pending: Vec<usize> = Vec::with_capacity(views.len());
    let lost = |conn: &dyn SqlConn, v: &ViewDef, sql: &str, message: String| {
        EndpointError::query(
            conn.endpoint_name(),
            Some(&v.name),
            format!("{message} (while running: {sql})"),
            true,
        )
    };
    for (i, v) in views.iter().enumerate() {
        if if_exists == IfExists::Drop {
            let sql = format!("DROP VIEW IF EXISTS {}{drop}", quote_ident(&v.name));
            if let Err(e) = conn.exec(&sql, &[]).await {
                if e.transient {
                    return Err(lost(conn, v, &sql, e.message));
                }
                errors[i] = Some(e.message);
                continue;
            }
        }
        pending.push(i);
    }
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for i in pending {
            let v = &views[i];
            let sql = format!("CREATE VIEW {} AS {}", quote_ident(&v.name), v.definition);
            match conn.exec(&sql, &[]).await {
                Ok(_) => errors[i] = None,
                Err(e) if e.transient => return Err(lost(conn, v, &sql, e.message)),
                Err(e) => {
                    errors[i] = Some(e.message);
                    still.push(i);
                }
            }
        }
        pending = still;
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    Ok(views
        .iter()
        .zip(errors)
        .map(|(v, error)| ViewOutcome {
            name: v.name.clone(),
            error,
        })
        .collect())
}
