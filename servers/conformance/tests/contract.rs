//! The API contract, checked over HTTP against every server on every driver.
//!
//! Each `(server, driver)` test starts the real binary on a fresh database
//! seeded with `DATASET` and walks every endpoint and error case. Since the
//! data is the same for all, `responses_are_identical_across_servers` can
//! then require byte-for-byte equal answers from every stack.

use conformance::{Reply, Server, DATASET, STACKS};
use futures_util::future::join_all;
use serde_json::{json, Value};

async fn health(s: &Server) {
    let reply = s.call("GET", "/health", None).await;
    assert_eq!(reply.expect(200), json!({"status": "ok"}));
    assert_eq!(reply.text, r#"{"status":"ok"}"#);
    assert_eq!(
        s.call("GET", "/health/db", None).await.expect(200),
        json!({"status": "ok"})
    );
}

async fn routing(s: &Server) {
    s.call("GET", "/nope", None)
        .await
        .expect_error(404, "not_found");
    // Percent-encoded unreserved characters are the plain ones (RFC 3986 6.2.2.2).
    let user = s.call("GET", "/%75sers/%31", None).await.expect(200);
    assert_eq!(user["id"], 1);
    let message = s
        .call("GET", "/%75sers/1/n%6Fpe%2F", None)
        .await
        .expect_error(404, "not_found");
    assert!(message.ends_with("/users/1/nope%2F"), "{message}");
    s.call("GET", "/users/1/nope", None)
        .await
        .expect_error(404, "not_found");
    s.call("GET", "/", None)
        .await
        .expect_error(404, "not_found");
    for (method, path, allow) in [
        ("DELETE", "/users", "GET, HEAD, POST"),
        ("PUT", "/users/1", "GET, HEAD, PATCH, DELETE"),
        ("POST", "/users/1/orders", "GET, HEAD"),
        ("GET", "/orders", "POST"),
        ("PATCH", "/orders/1", "GET, HEAD"),
        ("GET", "/orders/1/cancel", "POST"),
        ("HEAD", "/orders", "POST"),
        ("OPTIONS", "/users", "GET, HEAD, POST"),
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/products", "GET, HEAD, POST"),
        // The method is checked before the id: a bad id on a wrong method is 405.
        ("PUT", "/products/abc", "GET, HEAD, PATCH, DELETE"),
    ] {
        let reply = s.call(method, path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
        if method != "HEAD" {
            reply.expect_error(405, "method_not_allowed");
        }
    }
    // HEAD is answered wherever GET is: the same status and headers, no body.
    for path in ["/health", "/users/1", "/products?limit=2", "/users/9999"] {
        let get = s.call("GET", path, None).await;
        let head = s.call("HEAD", path, None).await;
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert_eq!(
            head.header("content-type"),
            Some("application/json"),
            "HEAD {path}"
        );
        let length = get.text.len().to_string();
        assert_eq!(
            head.header("content-length"),
            Some(length.as_str()),
            "HEAD {path}"
        );
        assert!(head.text.is_empty(), "HEAD {path} sent a body");
    }
}

async fn ids(s: &Server) {
    for path in [
        "/users/0",
        "/users/-1",
        "/users/abc",
        "/users/1.5",
        "/users/99999999999999999999",
        "/products/0x10",
        "/orders/%20",
    ] {
        s.call("GET", path, None)
            .await
            .expect_error(400, "bad_request");
    }
    s.call("GET", "/users/9223372036854775807", None)
        .await
        .expect_error(404, "not_found");
    // Path parameters are percent-decoded, as URLs allow.
    assert_eq!(s.call("GET", "/users/%31", None).await.expect(200)["id"], 1);
    s.call("GET", "/orders/9223372036854775807", None)
        .await
        .expect_error(404, "not_found");
    s.call("POST", "/orders/-5/cancel", None)
        .await
        .expect_error(400, "bad_request");
}

async fn users(s: &Server) {
    let reply = s
        .call(
            "POST",
            "/users",
            Some(r#"{"username":"new.user-1","email":"new@example.com"}"#),
        )
        .await;
    let user = reply.expect(201);
    let id = user["id"].as_i64().unwrap();
    assert_eq!(id, i64::from(DATASET.users) + 1);
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(user["username"], "new.user-1");
    assert_eq!(user["email"], "new@example.com");
    assert_eq!(user["created_at"], user["updated_at"]);
    let keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert_eq!(
        s.call("GET", &format!("/users/{id}"), None)
            .await
            .expect(200),
        user
    );

    // Conflicts and validation change nothing.
    s.call(
        "POST",
        "/users",
        Some(r#"{"username":"new.user-1","email":"x@example.com"}"#),
    )
    .await
    .expect_error(409, "conflict");
    s.call(
        "POST",
        "/users",
        Some(r#"{"username":"other","email":"new@example.com"}"#),
    )
    .await
    .expect_error(409, "conflict");
    for bad in [
        r#"{"username":"ab","email":"a@b.co"}"#,
        r#"{"username":"has space","email":"a@b.co"}"#,
        r#"{"username":"ünïcødé","email":"a@b.co"}"#,
        r#"{"username":"okname","email":"no-at-sign"}"#,
        r#"{"username":"okname","email":"a@nodot"}"#,
        r#"{"username":"okname"}"#,
        r#"{"username":5,"email":"a@b.co"}"#,
        r#"{"username":"okname","email":"a@b.co","admin":true}"#,
        r#"{"username":"okname","email":"a@b.co""#,
        r#"[]"#,
        r#""#,
        r#"null"#,
    ] {
        let message = s
            .call("POST", "/users", Some(bad))
            .await
            .expect_error(400, "bad_request");
        assert!(!message.is_empty(), "{bad}");
    }
    let long_email = format!(
        r#"{{"username":"okname","email":"{}@example.com"}}"#,
        "x".repeat(250)
    );
    s.call("POST", "/users", Some(&long_email))
        .await
        .expect_error(400, "bad_request");
    // The limit counts characters, as the schema's maxLength does, not bytes.
    let wide_email = format!(
        r#"{{"username":"wide","email":"{}@example.com"}}"#,
        "é".repeat(240)
    );
    s.call("POST", "/users", Some(&wide_email))
        .await
        .expect(201);
    let count = s.call("GET", "/users?limit=100", None).await.expect(200);
    assert_eq!(count.as_array().unwrap().len(), DATASET.users as usize + 2);

    // PATCH: a subset, an empty object, unknown users, conflicts.
    let patched = s
        .call(
            "PATCH",
            &format!("/users/{id}"),
            Some(r#"{"email":"changed@example.com"}"#),
        )
        .await
        .expect(200);
    assert_eq!(patched["email"], "changed@example.com");
    assert_eq!(patched["username"], "new.user-1");
    assert!(
        patched["updated_at"].as_str() > user["updated_at"].as_str(),
        "updated_at not bumped"
    );
    assert_eq!(patched["created_at"], user["created_at"]);
    s.call("PATCH", &format!("/users/{id}"), Some("{}"))
        .await
        .expect_error(400, "bad_request");
    s.call("PATCH", "/users/999999", Some(r#"{"username":"ghost"}"#))
        .await
        .expect_error(404, "not_found");
    s.call(
        "PATCH",
        &format!("/users/{id}"),
        Some(r#"{"username":"user1"}"#),
    )
    .await
    .expect_error(409, "conflict");

    // DELETE: 204 with no body, then gone.
    let deleted = s.call("DELETE", &format!("/users/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    s.call("GET", &format!("/users/{id}"), None)
        .await
        .expect_error(404, "not_found");
    s.call("DELETE", &format!("/users/{id}"), None)
        .await
        .expect_error(404, "not_found");
}

async fn pagination(s: &Server) {
    let ids = |value: Value| -> Vec<i64> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(s.call("GET", "/users", None).await.expect(200)),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(s
            .call("GET", "/users?limit=3&offset=10", None)
            .await
            .expect(200)),
        [11, 12, 13]
    );
    assert_eq!(
        ids(s.call("GET", "/users?limit=100", None).await.expect(200)).len(),
        DATASET.users as usize
    );
    assert_eq!(
        s.call("GET", "/users?offset=1000000", None)
            .await
            .expect(200),
        json!([])
    );
    assert_eq!(
        ids(s
            .call("GET", "/users?limit=1&unknown=x", None)
            .await
            .expect(200)),
        [1]
    );
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "offset=-1",
        "offset=x",
        "limit=",
    ] {
        s.call("GET", &format!("/users?{query}"), None)
            .await
            .expect_error(400, "bad_request");
        s.call("GET", &format!("/products?{query}"), None)
            .await
            .expect_error(400, "bad_request");
        s.call("GET", &format!("/users/1/orders?{query}"), None)
            .await
            .expect_error(400, "bad_request");
    }
}

async fn product_count(s: &Server) -> usize {
    let page = s.call("GET", "/products?limit=100", None).await.expect(200);
    page.as_array().unwrap().len()
}

async fn products(s: &Server) {
    // PostgreSQL's text holds no NUL character: bad input, a 400 that changes nothing.
    let before = product_count(s).await;
    for field in ["name", "description", "category"] {
        let mut product = json!({"name": "Nul", "description": "", "price": "1.00", "stock_quantity": 1, "category": "toys"});
        product[field] = json!("a\u{0}b");
        let message = s
            .call("POST", "/products", Some(&product.to_string()))
            .await
            .expect_error(400, "bad_request");
        assert!(
            message.contains(field) && message.contains("NUL"),
            "{message}"
        );
    }
    s.call("PATCH", "/products/1", Some(r#"{"name":"a\u0000b"}"#))
        .await
        .expect_error(400, "bad_request");
    s.call("GET", "/products?category=%00", None)
        .await
        .expect_error(400, "bad_request");
    assert_eq!(product_count(s).await, before);
    // Money in: a number or a string, at most two decimals; out: two decimals.
    let body = r#"{"name":"Lamp ☀ «ü»","description":"'; DROP TABLE products; --","price":19.9,"stock_quantity":5,"category":"home"}"#;
    let reply = s.call("POST", "/products", Some(body)).await;
    let lamp = reply.expect(201);
    let id = lamp["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/products/{id}").as_str())
    );
    assert_eq!(lamp["price"], "19.90");
    assert_eq!(lamp["name"], "Lamp ☀ «ü»");
    assert_eq!(lamp["description"], "'; DROP TABLE products; --");
    assert_eq!(
        s.call("GET", &format!("/products/{id}"), None)
            .await
            .expect(200),
        lamp
    );
    let plain = s
        .call(
            "POST",
            "/products",
            Some(r#"{"name":"Bare","price":"7","stock_quantity":0,"category":"misc"}"#),
        )
        .await
        .expect(201);
    assert_eq!(plain["price"], "7.00");
    assert_eq!(plain["description"], "");

    for bad in [
        r#"{"name":"x","price":0,"stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":-1,"stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":"1.999","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":1000000000,"stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":"abc","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":"0.00","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":" 1.50","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":"1.100","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":"1e2","stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":1,"stock_quantity":-1,"category":"c"}"#,
        r#"{"name":"x","price":1,"stock_quantity":1000000001,"category":"c"}"#,
        r#"{"name":"x","price":1,"stock_quantity":1.5,"category":"c"}"#,
        r#"{"name":"","price":1,"stock_quantity":1,"category":"c"}"#,
        r#"{"name":"x","price":1,"stock_quantity":1,"category":""}"#,
        r#"{"name":"x","price":1,"stock_quantity":1}"#,
    ] {
        s.call("POST", "/products", Some(bad))
            .await
            .expect_error(400, "bad_request");
    }
    let long = |field: &str, n: usize| {
        let mut product = json!({"name": "x", "price": 1, "stock_quantity": 1, "category": "c"});
        product[field] = json!("é".repeat(n));
        product.to_string()
    };
    s.call("POST", "/products", Some(&long("name", 200)))
        .await
        .expect(201);
    s.call("POST", "/products", Some(&long("name", 201)))
        .await
        .expect_error(400, "bad_request");
    s.call("POST", "/products", Some(&long("description", 2001)))
        .await
        .expect_error(400, "bad_request");
    s.call("POST", "/products", Some(&long("category", 51)))
        .await
        .expect_error(400, "bad_request");

    let home = s
        .call("GET", "/products?category=home&limit=100", None)
        .await
        .expect(200);
    let home = home.as_array().unwrap();
    assert!(home.iter().all(|p| p["category"] == "home"));
    assert!(home
        .windows(2)
        .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));
    assert_eq!(home.last().unwrap()["id"], id);
    assert_eq!(
        s.call("GET", "/products?category=no%20such", None)
            .await
            .expect(200),
        json!([])
    );

    let patched = s
        .call(
            "PATCH",
            &format!("/products/{id}"),
            Some(r#"{"price":"21.5","stock_quantity":9}"#),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            patched["price"].as_str(),
            patched["stock_quantity"].as_i64()
        ),
        (Some("21.50"), Some(9))
    );
    assert_eq!(patched["name"], lamp["name"]);
    s.call("PATCH", &format!("/products/{id}"), Some("{}"))
        .await
        .expect_error(400, "bad_request");
    s.call("PATCH", &format!("/products/{id}"), Some(r#"{"price":0}"#))
        .await
        .expect_error(400, "bad_request");
    s.call("PATCH", "/products/999999", Some(r#"{"price":1}"#))
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        s.call("DELETE", &format!("/products/{}", plain["id"]), None)
            .await
            .status,
        204
    );
    s.call("GET", &format!("/products/{}", plain["id"]), None)
        .await
        .expect_error(404, "not_found");
}

async fn stock_of(s: &Server, product: i64) -> i64 {
    s.call("GET", &format!("/products/{product}"), None)
        .await
        .expect(200)["stock_quantity"]
        .as_i64()
        .unwrap()
}

async fn orders(s: &Server) {
    let p1 = s.call("GET", "/products/1", None).await.expect(200);
    let p2 = s.call("GET", "/products/2", None).await.expect(200);
    let reply = s.call("POST", "/orders", Some(r#"{"user_id":3,"items":[{"product_id":2,"quantity":4},{"product_id":1,"quantity":1}]}"#)).await;
    let order = reply.expect(201);
    let id = order["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/orders/{id}").as_str())
    );
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["user_id"], 3);
    let price = |p: &Value| p["price"].as_str().unwrap().parse::<f64>().unwrap();
    let total = order["total_amount"].as_str().unwrap();
    assert_eq!(total, format!("{:.2}", price(&p2) * 4.0 + price(&p1)));
    assert_eq!(
        order["items"],
        json!([
            {"product_id": 2, "quantity": 4, "unit_price": p2["price"]},
            {"product_id": 1, "quantity": 1, "unit_price": p1["price"]},
        ])
    );
    assert_eq!(stock_of(s, 2).await, i64::from(DATASET.stock) - 4);
    assert_eq!(
        s.call("GET", &format!("/orders/{id}"), None)
            .await
            .expect(200),
        order
    );
    assert_eq!(
        s.call("GET", "/users/3/orders", None).await.expect(200),
        json!([order.clone()])
    );
    assert_eq!(
        s.call("GET", "/users/4/orders", None).await.expect(200),
        json!([])
    );
    s.call("GET", "/users/999999/orders", None)
        .await
        .expect_error(404, "not_found");

    // Failures are all-or-nothing: product 1's stock is untouched by each.
    let before = stock_of(s, 1).await;
    let much = format!(
        r#"{{"user_id":3,"items":[{{"product_id":1,"quantity":1}},{{"product_id":2,"quantity":{}}}]}}"#,
        DATASET.stock
    );
    s.call("POST", "/orders", Some(&much))
        .await
        .expect_error(409, "insufficient_stock");
    s.call("POST", "/orders", Some(r#"{"user_id":3,"items":[{"product_id":1,"quantity":1},{"product_id":999999,"quantity":1}]}"#)).await.expect_error(422, "unknown_reference");
    s.call(
        "POST",
        "/orders",
        Some(r#"{"user_id":999999,"items":[{"product_id":1,"quantity":1}]}"#),
    )
    .await
    .expect_error(422, "unknown_reference");
    let fifty_one: Vec<Value> = (1..=51)
        .map(|id| json!({"product_id": id, "quantity": 1}))
        .collect();
    for bad in [
        r#"{"user_id":3,"items":[]}"#.to_string(),
        r#"{"user_id":3}"#.to_string(),
        r#"{"user_id":3,"items":[{"product_id":1,"quantity":0}]}"#.to_string(),
        r#"{"user_id":3,"items":[{"product_id":1,"quantity":1001}]}"#.to_string(),
        r#"{"user_id":3,"items":[{"product_id":1,"quantity":1},{"product_id":1,"quantity":2}]}"#
            .to_string(),
        r#"{"user_id":0,"items":[{"product_id":1,"quantity":1}]}"#.to_string(),
        r#"{"user_id":3,"items":[{"product_id":-1,"quantity":1}]}"#.to_string(),
        r#"{"user_id":"3","items":[{"product_id":1,"quantity":1}]}"#.to_string(),
        json!({"user_id": 3, "items": fifty_one}).to_string(),
    ] {
        s.call("POST", "/orders", Some(&bad))
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(stock_of(s, 1).await, before);

    // Referenced rows cannot be deleted.
    s.call("DELETE", "/users/3", None)
        .await
        .expect_error(409, "conflict");
    s.call("DELETE", "/products/2", None)
        .await
        .expect_error(409, "conflict");

    // Cancel restores the stock, once.
    let cancelled = s
        .call("POST", &format!("/orders/{id}/cancel"), None)
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["items"], order["items"]);
    assert_eq!(stock_of(s, 2).await, i64::from(DATASET.stock));
    s.call("POST", &format!("/orders/{id}/cancel"), None)
        .await
        .expect_error(409, "conflict");
    assert_eq!(stock_of(s, 2).await, i64::from(DATASET.stock));
    s.call("POST", "/orders/999999/cancel", None)
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        s.call("GET", &format!("/orders/{id}"), None)
            .await
            .expect(200)["status"],
        "cancelled"
    );
}

async fn bodies(s: &Server) {
    let user = r#"{"username":"typed","email":"typed@example.com"}"#;
    let post = |content_type: Option<&str>| {
        let mut request = s.http.post(s.url("/users")).body(user);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
    };
    s.send(post(None))
        .await
        .expect_error(415, "unsupported_media_type");
    s.send(post(Some("text/plain")))
        .await
        .expect_error(415, "unsupported_media_type");
    s.send(post(Some("application/x-www-form-urlencoded")))
        .await
        .expect_error(415, "unsupported_media_type");
    s.send(s.http.patch(s.url("/users/1")).body("{}"))
        .await
        .expect_error(415, "unsupported_media_type");
    s.send(post(Some("application/json; charset=utf-8")))
        .await
        .expect(201);

    // Over 64 KiB: 413, whether or not the body is valid JSON.
    let padding = " ".repeat(64 * 1024);
    let big = format!(r#"{{"username":"big","email":"big@example.com"}}{padding}"#);
    s.call("POST", "/users", Some(&big))
        .await
        .expect_error(413, "payload_too_large");
    // A chunked body without Content-Length is cut off at the limit too.
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    let head = "POST /products HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let raw = format!("{head}{}0\r\n\r\n", chunk.repeat(70));
    let response = s.raw(raw.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#""code":"payload_too_large""#),
        "{response}"
    );
    // Exactly at the limit is fine.
    let body = r#"{"username":"edge","email":"edge@example.com"}"#;
    let at_limit = format!("{body}{}", " ".repeat(64 * 1024 - body.len()));
    s.call("POST", "/users", Some(&at_limit)).await.expect(201);
    s.call("GET", "/users?limit=1", None).await.expect(200);
}

/// Rows of every table the API writes, to show that a refused body changed nothing.
async fn row_counts(s: &Server) -> Vec<i64> {
    let db = s.db.client().await.expect("the test database");
    let sql = "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products), \
               (SELECT count(*) FROM orders), (SELECT sum(stock_quantity) FROM products)::bigint";
    let row = db.query_one(sql, &[]).await.expect("row counts");
    (0..4).map(|column| row.get(column)).collect()
}

/// Posts raw bytes as a JSON body.
async fn post_bytes(s: &Server, path: &str, body: &[u8]) -> conformance::Reply {
    let request = s
        .http
        .post(s.url(path))
        .header("content-type", "application/json");
    s.send(request.body(body.to_vec())).await
}

/// Bodies that are not JSON of the request's shape: 400 `bad_request` whose
/// message is `invalid JSON body: ` and the parser's own words (which the
/// contract leaves to each stack), and nothing changes.
const NOT_OF_THE_SHAPE: &[(&str, &str)] = &[
    ("/users", ""),
    (
        "/users",
        r#"{"username":"shape","email":"shape@example.com""#,
    ),
    (
        "/users",
        r#"{"username":"shape","email":"shape@example.com"} x"#,
    ),
    ("/users", r#"["shape","shape@example.com"]"#),
    ("/users", "null"),
    ("/users", r#""shape""#),
    (
        "/users",
        r#"{"USERNAME":"shape","email":"shape@example.com"}"#,
    ),
    ("/users", r#"{"username":"shape"}"#),
    (
        "/users",
        r#"{"username":"shape","email":"shape@example.com","role":"admin"}"#,
    ),
    ("/users", r#"{"username":null,"email":"shape@example.com"}"#),
    ("/users", r#"{"username":7,"email":"shape@example.com"}"#),
    (
        "/users",
        r#"{"username":"shape","email":"shape@example.com","__proto__":{}}"#,
    ),
    (
        "/products",
        r#"{"name":"n","description":null,"price":"1","stock_quantity":1,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":true,"stock_quantity":1,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":null,"stock_quantity":1,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":[1],"stock_quantity":1,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":1e400,"stock_quantity":1,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":"1","stock_quantity":1.0,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":"1","stock_quantity":1e0,"category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":"1","stock_quantity":"5","category":"c"}"#,
    ),
    (
        "/products",
        r#"{"name":"n","price":"1","stock_quantity":9223372036854775808,"category":"c"}"#,
    ),
    ("/orders", r#"{"user_id":1,"items":[[3,2]]}"#),
    (
        "/orders",
        r#"{"user_id":1,"items":{"product_id":3,"quantity":2}}"#,
    ),
    (
        "/orders",
        r#"{"user_id":1,"items":[{"product_id":3,"quantity":2147483648}]}"#,
    ),
    (
        "/orders",
        r#"{"user_id":1.5,"items":[{"product_id":3,"quantity":1}]}"#,
    ),
    (
        "/orders",
        r#"{"user_id":1,"items":[{"product_id":3,"quantity":1,"note":"x"}]}"#,
    ),
];

/// Prices the contract refuses, all with its one price message.
const NOT_A_PRICE: &[&str] = &[
    r#""3.555""#,
    "19.999",
    r#""1e2""#,
    r#""""#,
    r#""-1""#,
    "0",
    "-1.5",
    "1e9",
    r#""1000000000""#,
    "1e300",
    "0.001",
];

const PRICE_RULE: &str = r#"price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99""#;

async fn shapes(s: &Server) {
    let before = row_counts(s).await;
    for (path, body) in NOT_OF_THE_SHAPE {
        let message = s
            .call("POST", path, Some(body))
            .await
            .expect_error(400, "bad_request");
        assert!(
            message.starts_with("invalid JSON body: "),
            "POST {path} {body}: {message}"
        );
    }
    // Invalid UTF-8 inside a string is not JSON text either.
    let bytes = b"{\"username\":\"sh\xffpe\",\"email\":\"shape@example.com\"}";
    let message = post_bytes(s, "/users", bytes)
        .await
        .expect_error(400, "bad_request");
    assert!(message.starts_with("invalid JSON body: "), "{message}");
    for price in NOT_A_PRICE {
        let body = format!(r#"{{"name":"n","price":{price},"stock_quantity":1,"category":"c"}}"#);
        let reply = s.call("POST", "/products", Some(&body)).await;
        assert_eq!(reply.expect_error(400, "bad_request"), PRICE_RULE, "{body}");
        let patch = format!(r#"{{"price":{price}}}"#);
        let reply = s.call("PATCH", "/products/1", Some(&patch)).await;
        assert_eq!(
            reply.expect_error(400, "bad_request"),
            PRICE_RULE,
            "{patch}"
        );
    }
    // A value broken after the shape holds gets the contract's own message.
    let zero = r#"{"user_id":0,"items":[{"product_id":3,"quantity":1}]}"#;
    let message = s
        .call("POST", "/orders", Some(zero))
        .await
        .expect_error(400, "bad_request");
    assert_eq!(message, "user_id must be a positive integer");
    // In a patch, null is absent: this patch sets nothing.
    let message = s
        .call("PATCH", "/products/1", Some(r#"{"price":null}"#))
        .await
        .expect_error(400, "bad_request");
    assert!(
        message.starts_with("a product patch must set at least one of"),
        "{message}"
    );
    assert_eq!(
        row_counts(s).await,
        before,
        "a refused body changed the database"
    );

    // A price number is judged by the shortest decimal of the float nearest it.
    for (price, stored) in [
        ("1e2", "100.00"),
        ("19.990000000000000001", "19.99"),
        ("1.100", "1.10"),
    ] {
        let patch = format!(r#"{{"price":{price}}}"#);
        let product = s
            .call("PATCH", "/products/1", Some(&patch))
            .await
            .expect(200);
        assert_eq!(product["price"], stored, "{patch}");
    }
    // RFC 8259 leaves a repeated member name and an escaped lone surrogate to
    // the parser; the contract too. Either way, never a server error.
    for body in [
        r#"{"username":"twice1","username":"twice2","email":"twice@example.com"}"#,
        r#"{"username":"lone","email":"lone\ud800@example.com"}"#,
    ] {
        let reply = s.call("POST", "/users", Some(body)).await;
        match reply.status {
            201 => {}
            400 => {
                let message = reply.expect_error(400, "bad_request");
                assert!(
                    message.starts_with("invalid JSON body: "),
                    "{body}: {message}"
                );
            }
            status => panic!("{body}: {status} {}", reply.text),
        }
    }
}

/// 40 clients order the same product (stock 10) at once: exactly 10 win.
async fn concurrent_orders(s: &Server) {
    s.call("PATCH", "/products/7", Some(r#"{"stock_quantity":10}"#))
        .await
        .expect(200);
    let attempts = (1..=40).map(|user| {
        let body = format!(r#"{{"user_id":{},"items":[{{"product_id":7,"quantity":1}},{{"product_id":8,"quantity":1}}]}}"#, user % DATASET.users + 1);
        async move { s.call("POST", "/orders", Some(&body)).await }
    });
    let replies = join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.expect_error(409, "insufficient_stock");
    }
    assert_eq!(won, 10);
    assert_eq!(stock_of(s, 7).await, 0);
    assert_eq!(stock_of(s, 8).await, i64::from(DATASET.stock) - 10);
}

/// Cancelling gives stock back, but never past the most a product holds.
async fn stock_limit(s: &Server) {
    let order = s
        .call(
            "POST",
            "/orders",
            Some(r#"{"user_id":5,"items":[{"product_id":12,"quantity":3}]}"#),
        )
        .await
        .expect(201);
    s.call(
        "PATCH",
        "/products/12",
        Some(r#"{"stock_quantity":1000000000}"#),
    )
    .await
    .expect(200);
    let id = order["id"].as_i64().unwrap();
    let message = s
        .call("POST", &format!("/orders/{id}/cancel"), None)
        .await
        .expect_error(409, "conflict");
    assert!(message.contains("1000000000"), "{message}");
    assert_eq!(stock_of(s, 12).await, 1_000_000_000);
    let status = s
        .call("GET", &format!("/orders/{id}"), None)
        .await
        .expect(200);
    assert_eq!(status["status"], "confirmed");
}

/// An order placed while its user is deleted: either the order wins (201,
/// and the delete is refused: the user has orders) or the delete does
/// (204, and the order names an unknown user, 422); never a 409 order.
async fn delete_races_order(s: &Server) {
    for n in 0..12 {
        let user = s
            .call(
                "POST",
                "/users",
                Some(&format!(
                    r#"{{"username":"racer{n}","email":"racer{n}@example.com"}}"#
                )),
            )
            .await
            .expect(201);
        let id = user["id"].as_i64().unwrap();
        let body = format!(
            r#"{{"user_id":{id},"items":[{{"product_id":20,"quantity":1}},{{"product_id":21,"quantity":1}}]}}"#
        );
        let delete = format!("/users/{id}");
        let (order, deleted) = tokio::join!(
            s.call("POST", "/orders", Some(&body)),
            s.call("DELETE", &delete, None)
        );
        match (order.status, deleted.status) {
            (201, 409) => {}
            (422, 204) => {
                order.expect_error(422, "unknown_reference");
            }
            other => panic!(
                "order {}, delete {}: {order:?} {deleted:?}",
                other.0, other.1
            ),
        }
    }
}

async fn full_suite(server: &str, driver: &str) {
    full_suite_on(Server::start(server, driver).await).await;
}

async fn full_suite_on(s: Server) {
    health(&s).await;
    routing(&s).await;
    ids(&s).await;
    pagination(&s).await;
    users(&s).await;
    products(&s).await;
    orders(&s).await;
    bodies(&s).await;
    shapes(&s).await;
    concurrent_orders(&s).await;
    stock_limit(&s).await;
    delete_races_order(&s).await;
}

conformance::every_stack!(full: super::full_suite);

/// The servers' flags that change how they run their requests: hyper and
/// axum on one single-threaded runtime per worker, each with its own socket
/// and pool (`--runtime per-core`), instead of tokio's multi-thread runtime.
const PER_CORE: [&str; 4] = ["--runtime", "per-core", "--workers", "2"];

/// hyper and axum per core: the same contract.
mod per_core {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hyper_on_tokio_postgres() {
        let s = conformance::Server::start_with("hyper", "tokio-postgres", &super::PER_CORE).await;
        super::full_suite_on(s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn axum_on_sqlx() {
        let s = conformance::Server::start_with("axum", "sqlx", &super::PER_CORE).await;
        super::full_suite_on(s).await;
    }
}

/// `(path, methods)` of every operation in `schema/openapi.yaml`, read from
/// its `paths:` section (two-space indented path keys, four-space methods).
fn openapi_routes() -> Vec<(String, Vec<String>)> {
    let spec = include_str!("../../../schema/openapi.yaml");
    let paths = spec.split("\npaths:\n").nth(1).expect("a paths: section");
    let mut routes: Vec<(String, Vec<String>)> = Vec::new();
    for line in paths
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
    {
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            routes.push((format!("/{path}"), Vec::new()));
        } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                routes
                    .last_mut()
                    .expect("a method under a path")
                    .1
                    .push(method.to_uppercase());
            }
        }
    }
    routes
}

/// Every route a server exposes is in the OpenAPI document and the other way
/// round: each documented operation is routed (neither 404 nor 405), and
/// every other method on a documented path is 405 with exactly the
/// documented methods in `Allow`. Unknown paths are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_expose_exactly_the_openapi_routes() {
    let routes = openapi_routes();
    assert_eq!(routes.len(), 10, "paths in openapi.yaml: {routes:?}");
    for stack in STACKS {
        let server = stack.name;
        let s = Server::start(server, stack.default_driver()).await;
        for (template, methods) in &routes {
            let path = template.replace("{id}", "1");
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                let reply = s.call(method, &path, None).await;
                if methods.iter().any(|m| m == method) {
                    assert!(
                        reply.status != 404
                            || reply.json()["error"]["message"]
                                .as_str()
                                .is_some_and(|m| !m.starts_with("no route")),
                        "{server}: documented {method} {path} is not routed: {}",
                        reply.text
                    );
                    assert_ne!(
                        reply.status, 405,
                        "{server}: documented {method} {path} is 405"
                    );
                } else {
                    reply.expect_error(405, "method_not_allowed");
                    let mut allowed: Vec<&str> = reply
                        .header("allow")
                        .unwrap_or_default()
                        .split(", ")
                        .collect();
                    allowed.sort_unstable();
                    let mut documented: Vec<&str> = methods.iter().map(String::as_str).collect();
                    // HEAD comes with every GET (HTTP semantics; the document says so once).
                    if documented.contains(&"GET") {
                        documented.push("HEAD");
                    }
                    documented.sort_unstable();
                    assert_eq!(allowed, documented, "{server}: Allow of {path}");
                }
            }
        }
        for undocumented in [
            "/user",
            "/users/1/items",
            "/orders/1/refund",
            "/health/x",
            "/products/1/orders",
        ] {
            s.call("GET", undocumented, None)
                .await
                .expect_error(404, "not_found");
        }
    }
}

/// The body as sent, with each timestamp written during the run (no two
/// runs share one) replaced by `<now>` once its format is checked: RFC 3339
/// in UTC with 0, 3, 6 or 9 fraction digits, as chrono writes it. The seeded
/// ones (2024-01-01) stay, byte for byte.
fn without_run_times(body: &str) -> String {
    const KEY_END: &str = "_at\":\"";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(KEY_END) {
        let value_start = at + KEY_END.len();
        out.push_str(&rest[..value_start]);
        let value_len = rest[value_start..].find('"').expect("a closed string");
        let value = &rest[value_start..value_start + value_len];
        if value.starts_with("2024-01-01") {
            out.push_str(value);
        } else {
            assert!(is_rfc3339_utc(value), "timestamp {value:?} in {body}");
            out.push_str("<now>");
        }
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

/// The body as sent, except that in a `400 bad_request` for a body's shape
/// the words after `invalid JSON body: ` are replaced by `...`: they are
/// each JSON parser's own, which the contract leaves to the stack (status,
/// code and prefix are still compared). Any other answer is kept whole.
fn without_parser_words(status: u16, body: &str) -> String {
    const PREFIX: &str = r#"{"error":{"code":"bad_request","message":"invalid JSON body: "#;
    if status == 400 && body.starts_with(PREFIX) {
        format!("{PREFIX}...\"}}}}")
    } else {
        body.to_string()
    }
}

fn is_rfc3339_utc(text: &str) -> bool {
    let shape = text
        .bytes()
        .map(|b| if b.is_ascii_digit() { b'9' } else { b })
        .collect::<Vec<u8>>();
    let (seconds, fraction) = shape.split_at(shape.len().min(19));
    seconds == b"9999-99-99T99:99:99"
        && matches!(fraction.len(), 1 | 5 | 8 | 11)
        && fraction.last() == Some(&b'Z')
        && (fraction.len() == 1 || fraction[0] == b'.')
        && fraction[1..fraction.len() - 1].iter().all(|&b| b == b'9')
}

/// The same requests, on the same data, get the same answers from every
/// server on every driver (and hyper and axum per core too): status, the
/// contract's headers and the body, byte for byte, but for the parser's
/// words in a body refused for its shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_identical_across_servers() {
    let script: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/health", None),
        ("GET", "/users/1", None),
        ("GET", "/users?limit=2&offset=3", None),
        ("GET", "/users/abc", None),
        ("GET", "/users/0", None),
        ("GET", "/users/424242", None),
        ("GET", "/products?category=books&limit=3", None),
        ("GET", "/products/5", None),
        ("GET", "/products?limit=500", None),
        ("GET", "/missing/route", None),
        ("DELETE", "/orders", None),
        ("PUT", "/users/1", None),
        (
            "POST",
            "/users",
            Some(r#"{"username":"same","email":"same@example.com"}"#),
        ),
        (
            "POST",
            "/users",
            Some(r#"{"username":"same","email":"same2@example.com"}"#),
        ),
        ("POST", "/users", Some(r#"{"username":"x","email":"bad"}"#)),
        ("POST", "/users", Some(r#"{"username":"same","email":"#)),
        (
            "POST",
            "/users",
            Some(r#"{"username":"same","email":"a@b.co","role":"admin"}"#),
        ),
        ("PATCH", "/users/2", Some(r#"{"username":"renamed"}"#)),
        ("PATCH", "/users/2", Some("{}")),
        (
            "POST",
            "/products",
            Some(r#"{"name":"Ünicode ✓","price":"3.5","stock_quantity":2,"category":"toys"}"#),
        ),
        (
            "POST",
            "/products",
            Some(r#"{"name":"Bad","price":"3.555","stock_quantity":2,"category":"toys"}"#),
        ),
        (
            "POST",
            "/orders",
            Some(
                r#"{"user_id":1,"items":[{"product_id":3,"quantity":2},{"product_id":4,"quantity":1}]}"#,
            ),
        ),
        (
            "POST",
            "/orders",
            Some(r#"{"user_id":1,"items":[{"product_id":3,"quantity":1000}]}"#),
        ),
        (
            "POST",
            "/orders",
            Some(r#"{"user_id":1,"items":[{"product_id":99999,"quantity":1}]}"#),
        ),
        (
            "POST",
            "/orders",
            Some(
                r#"{"user_id":1,"items":[{"product_id":3,"quantity":1},{"product_id":3,"quantity":1}]}"#,
            ),
        ),
        ("GET", "/orders/1", None),
        ("GET", "/users/1/orders", None),
        ("POST", "/orders/1/cancel", None),
        ("POST", "/orders/1/cancel", None),
        ("DELETE", "/users/1", None),
        ("DELETE", "/products/40", None),
        ("DELETE", "/users/50", None),
        // Percent-encoded unreserved characters route as the plain ones.
        ("GET", "/%75sers/%31", None),
        ("GET", "/%75nknown/%2F%20", None),
        ("POST", "/orders/1/%63ancel", None),
        ("PATCH", "/%70roducts/1", None),
        (
            "POST",
            "/products",
            Some(r#"{"name":"a\u0000b","price":"1","stock_quantity":1,"category":"toys"}"#),
        ),
        ("GET", "/products?category=a%00", None),
        ("GET", "/health/db", None),
    ];
    // Every stack on every driver, and hyper and axum per core as well.
    let runs = STACKS.iter().flat_map(|stack| {
        let per_core = matches!(stack.name, "hyper" | "axum");
        stack.drivers.iter().flat_map(move |driver| {
            let plain = (stack.name, *driver, &[][..]);
            let own = (stack.name, *driver, &PER_CORE[..]);
            std::iter::once(plain).chain(per_core.then_some(own))
        })
    });
    let mut transcripts = Vec::new();
    for (name, driver, args) in runs {
        let s = Server::start_with(name, driver, args).await;
        let server = format!("{name}/{driver} {}", args.join(" "));
        let mut transcript = Vec::new();
        for (method, path, body) in script {
            let reply: Reply = s.call(method, path, *body).await;
            let body = without_parser_words(reply.status, &without_run_times(&reply.text));
            let headers: Vec<Option<String>> = ["content-type", "location", "allow"]
                .iter()
                .map(|h| reply.header(h).map(str::to_string))
                .collect();
            transcript.push(format!(
                "{method} {path} -> {} {headers:?} {body}",
                reply.status
            ));
        }
        transcripts.push((server, transcript));
    }
    let (reference_server, reference) = &transcripts[0];
    for (server, transcript) in &transcripts[1..] {
        for (expected, actual) in reference.iter().zip(transcript) {
            assert_eq!(expected, actual, "{server} differs from {reference_server}");
        }
    }
}

/// SIGTERM stops a server cleanly (exit 0) after it finishes what it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_stop_gracefully_on_sigterm() {
    for stack in STACKS {
        let server = stack.name;
        let mut s = Server::start(server, stack.default_driver()).await;
        s.call("GET", "/health", None).await.expect(200);
        let status = s.terminate();
        assert!(status.success(), "{server} exited with {status}");
    }
}

/// A server that cannot reach its database at start says so and exits non-zero.
#[test]
fn servers_refuse_to_start_without_a_database() {
    let port = schema::free_port(None).unwrap();
    for stack in STACKS {
        let server = stack.name;
        let output = std::process::Command::new(conformance::binary(server))
            .args([
                "--port",
                "0",
                "--database-url",
                &format!("postgres://nobody@127.0.0.1:{port}/none"),
            ])
            .output()
            .expect("the server binary runs");
        assert!(
            !output.status.success(),
            "{server} started without a database"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cannot use the database"),
            "{server}: {stderr}"
        );
    }
}
