//! `GET /graphql` upgraded to a WebSocket: GraphQL subscriptions over the
//! graphql-transport-ws protocol (and the older graphql-ws). The client
//! authenticates in `connection_init` with `{"authorization": "Bearer …"}`;
//! without a valid session the connection is refused. The token never
//! travels in the URL.

use std::sync::Arc;

use async_graphql::Data;
use async_graphql::dataloader::DataLoader;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use poem::web::Data as PoemData;
use poem::web::websocket::WebSocket;
use poem::{IntoResponse, Response, handler};

use super::AppState;
use crate::auth::subject_for;
use crate::db::RequestDb;
use crate::error::AppError;
use crate::graphql::events::ConnectionToken;
use crate::graphql::loaders::RequestLoader;

/// The bearer token of a `connection_init` payload.
fn token_of(payload: &serde_json::Value) -> Option<String> {
    let obj = payload.as_object()?;
    let value = ["authorization", "Authorization"].iter().find_map(|k| obj.get(*k))?.as_str()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

#[handler]
pub async fn websocket(
    ws: WebSocket,
    protocol: GraphQLProtocol,
    PoemData(state): PoemData<&Arc<AppState>>,
) -> Response {
    let state = state.clone();
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let schema = state.schemas.ws.clone();
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = token_of(&payload).ok_or(AppError::Unauthenticated)?;
                    let bearer = format!("Bearer {token}");
                    let subject = subject_for(&state.auth.0, Some(&bearer), &state.sessions)
                        .await?
                        .ok_or(AppError::Unauthenticated)?;
                    // Each field of an event reads in a short transaction of its own.
                    let db = RequestDb::per_call(state.pool.clone(), state.authz.settings(Some(&subject)));
                    let mut data = Data::default();
                    data.insert(DataLoader::new(RequestLoader::new(db.clone()), tokio::spawn));
                    data.insert(db);
                    data.insert(ConnectionToken(token));
                    data.insert(subject);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_init_payload_only_as_a_bearer() {
        let t = "a".repeat(43);
        assert_eq!(token_of(&serde_json::json!({ "authorization": format!("Bearer {t}") })), Some(t.clone()));
        assert_eq!(token_of(&serde_json::json!({ "Authorization": format!("Bearer {t}") })), Some(t.clone()));
        assert_eq!(token_of(&serde_json::json!({ "authorization": t })), None);
        assert_eq!(token_of(&serde_json::json!(null)), None);
    }
}
