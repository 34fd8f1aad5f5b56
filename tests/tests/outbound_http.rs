//! The outgoing HTTP adapter against real local receivers: the response-size cap and the
//! redirect policy.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use shared::adapters::outbound_http::ReqwestOutbound;
use shared::ports::outbound::{OutboundError, OutboundHttp, OutboundRequest};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn request(url: String) -> OutboundRequest {
    OutboundRequest {
        url,
        body: b"{}".to_vec(),
        headers: vec![("X-Webhook-Signature".into(), "sig".into())],
        timeout: Duration::from_secs(5),
        customer_url: true,
    }
}

#[tokio::test]
async fn oversized_response_is_rejected() {
    let app = Router::new()
        .route("/declared", post(|| async { vec![b'x'; 200 * 1024] }))
        .route(
            "/streamed",
            post(|| async {
                let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 4096]));
                axum::body::Body::from_stream(futures_stream(chunks))
            }),
        )
        .route("/small", post(|| async { "{\"ok\":true}" }));
    let base = serve(app).await;
    let client = ReqwestOutbound::new(true).unwrap();

    for path in ["/declared", "/streamed"] {
        let error = client
            .post(request(format!("{base}{path}")))
            .await
            .unwrap_err();
        assert!(
            matches!(error, OutboundError::Failed(ref m) if m.contains("exceeds")),
            "{path}: {error}"
        );
    }
    let response = client.post(request(format!("{base}/small"))).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"{\"ok\":true}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = Router::new().route(
        "/moved",
        post(|| async {
            (
                StatusCode::FOUND,
                [(header::LOCATION, "http://127.0.0.1:9/elsewhere")],
            )
                .into_response()
        }),
    );
    let base = serve(app).await;
    let response = ReqwestOutbound::new(true)
        .unwrap()
        .post(request(format!("{base}/moved")))
        .await
        .unwrap();
    assert_eq!(response.status, 302);
}

/// Turns chunks into a stream without a declared length.
fn futures_stream<I>(items: I) -> impl futures_core::Stream<Item = I::Item>
where
    I: Iterator + Unpin,
{
    struct IterStream<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    IterStream(items)
}

#[tokio::test]
async fn operator_targets_may_be_private() {
    let base = serve(Router::new().route("/runner", post(|| async { "{}" }))).await;
    let client = ReqwestOutbound::new(false).unwrap();

    let mut runner = request(format!("{base}/runner"));
    runner.customer_url = false;
    assert_eq!(client.post(runner).await.unwrap().status, 200);

    let customer = request(format!("{base}/runner"));
    let error = client.post(customer).await.unwrap_err();
    assert!(matches!(error, OutboundError::UrlRejected(_)), "{error}");
}
