//! tower-sessions' own route tests (ported in `common/mod.rs`) against `HotcoldStore` on the real
//! servers: standalone Redis per region, and the Redis Cluster, each with DynamoDB Local.

#[macro_use]
mod common;
mod support;

mod standalone_redis_and_dynamodb {
    use axum::Router;
    use tower_sessions::SessionManagerLayer;

    use crate::common::build_app;

    async fn app(max_age: Option<Duration>, domain: Option<String>) -> Router {
        let store = crate::support::standalone().await.store;
        let session_manager = SessionManagerLayer::new(store).with_secure(true);
        build_app(session_manager, max_age, domain)
    }

    route_tests!(app);
}

mod redis_cluster_and_dynamodb {
    use axum::Router;
    use tower_sessions::SessionManagerLayer;

    use crate::common::build_app;

    async fn app(max_age: Option<Duration>, domain: Option<String>) -> Router {
        let store = crate::support::cluster().await.store;
        let session_manager = SessionManagerLayer::new(store).with_secure(true);
        build_app(session_manager, max_age, domain)
    }

    route_tests!(app);
}
