use super::*;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Check your email · Gatehouse</title>
  <style>h1 { color: red }</style>
</head>
<body>
  <!-- a comment is not text -->
  <main class="card">
<h1>Check your email</h1>
<p class="lead">We sent a code to <strong>a•••@example.com</strong>. It is valid for 10 minutes.</p>
<p class="error" role="alert">That code is incorrect</p>
<form method="post" action="/sign-in/code">
  <input type="hidden" name="csrf" value="c">
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" autocomplete="one-time-code" required autofocus>
  <button type="submit" class="primary">Verify</button>
</form>
<form method="post" action="/account/products/sign-out">
  <input type="hidden" name="client_id" value="shop&amp;co">
  <button type="submit" aria-label="Sign out of Shop">Sign out</button>
</form>
<p><a href="/sign-in/backup-code">Use a backup code</a> · <a href="/sign-in/another-way" data-x='a>b'>Try another way</a></p>
<code id="backup-code" class="backup-code">
  ABCD-EFGH
</code>
  </main>
  <script>if (1 < 2) { document.title = "<b>no</b>"; }</script>
</body>
</html>"#;

#[test]
fn the_visible_text_is_what_a_person_reads() {
    let html = Html::parse(PAGE);
    let text = html.text();
    assert!(text.starts_with("Check your email We sent a code to a•••@example.com. It is"));
    assert!(html.has_text("a•••@example.com. It is valid"), "{text}");
    assert!(html.has_text("That code is incorrect"));
    assert!(html.has_text("Use a backup code · Try another way"));
    assert!(!html.has_text("color: red"), "styles are not text");
    assert!(!html.has_text("document.title"), "scripts are not text");
    assert!(!html.has_text("comment"), "comments are not text");
    assert!(!html.has_text("Gatehouse"), "the title is not in the body");
    assert!(!html.has_text("one-time-code"), "attributes are not text");
    assert!(html.mentions("one-time-code"), "but they are mentioned");
    assert!(html.mentions("shop&co"));
    assert!(!html.mentions("shop&amp;co"));
}

#[test]
fn title_headings_and_codes_are_read_by_name() {
    let html = Html::parse(PAGE);
    assert_eq!(
        html.title().as_deref(),
        Some("Check your email · Gatehouse")
    );
    assert_eq!(html.heading().as_deref(), Some("Check your email"));
    assert_eq!(html.headings(), vec!["Check your email".to_string()]);
    assert_eq!(html.code("backup-code").as_deref(), Some("ABCD-EFGH"));
    assert_eq!(html.code("totp-secret"), None);
    assert!(html.has_element("script") && !html.has_element("svg"));
}

#[test]
fn fields_are_found_by_name_or_id() {
    let html = Html::parse(PAGE);
    let code = html.field("code").expect("the code field");
    assert_eq!(code.kind(), "text");
    assert_eq!(code.autocomplete(), Some("one-time-code"));
    assert_eq!(code.value(), "");
    assert_eq!(code.attribute("required"), Some(""));
    assert_eq!(
        html.field("client_id").map(|f| f.value()).as_deref(),
        Some("shop&co")
    );
    assert!(html.field("password").is_none());
}

#[test]
fn forms_buttons_and_links_are_found_by_what_they_say() {
    let html = Html::parse(PAGE);
    let form = html.form("/sign-in/code").expect("the code form");
    assert_eq!(form.method(), "post");
    assert_eq!(form.hidden("csrf").as_deref(), Some("c"));
    assert!(
        form.hidden_fields().is_empty(),
        "csrf is left to the browser"
    );
    assert_eq!(form.buttons()[0].label(), "Verify");
    assert!(html.button("Verify").is_some());
    assert!(html.button("Resend code").is_none());
    let (form, button) = html
        .form_of_button("Sign out of Shop")
        .expect("by aria-label");
    assert_eq!(button.label(), "Sign out");
    assert_eq!(form.action(), Some("/account/products/sign-out"));
    assert_eq!(
        form.submission(&button),
        vec![("client_id".to_string(), "shop&co".to_string())]
    );
    assert_eq!(
        html.link("Try another way").as_deref(),
        Some("/sign-in/another-way")
    );
    assert_eq!(html.link("Cancel"), None);
    assert_eq!(html.links().len(), 2);
}

#[test]
fn a_button_sends_its_own_name_and_value() {
    let html = Html::parse(
        r#"<form method="post" action="/oauth2/consent"><input type="hidden" name="request" value="r1">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>"#,
    );
    let (form, deny) = html.form_of_button("Deny").expect("a Deny button");
    assert_eq!(
        form.submission(&deny),
        vec![
            ("request".to_string(), "r1".to_string()),
            ("decision".to_string(), "deny".to_string())
        ]
    );
}

#[test]
fn the_continue_url_is_read_from_a_meta_refresh_or_a_link() {
    let page =
        r#"<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/cb?code=a&amp;state=b">"#;
    assert_eq!(
        Html::parse(page).continue_url().as_deref(),
        Some("http://127.0.0.1:9/cb?code=a&state=b")
    );
    let page = r#"<p>Returning you to Shop</p><a class="button" href="http://127.0.0.1:9/cb?code=a&#x26;state=b">Continue</a>"#;
    let html = Html::parse(page);
    assert_eq!(html.refresh_url(), None);
    assert_eq!(
        html.continue_url().as_deref(),
        Some("http://127.0.0.1:9/cb?code=a&state=b")
    );
}

#[test]
fn hidden_fields_come_from_the_named_form_only() {
    let page = r#"<form method="post" action="/other"><input type="hidden" name="x" value="1"></form>
<form method="post" action="/sign-in" novalidate>
  <input type="hidden" name="csrf" value="c">
  <input type="hidden" name="return_to" value="/oauth2/authorize?a=1&amp;b=2">
  <input id="email" name="email" type="email" value="ann@example.com">
</form>"#;
    let html = Html::parse(page);
    assert_eq!(
        html.form("/sign-in").map(|f| f.hidden_fields()),
        Some(vec![(
            "return_to".to_string(),
            "/oauth2/authorize?a=1&b=2".to_string()
        )])
    );
    assert_eq!(
        html.field("email").map(|f| f.value()).as_deref(),
        Some("ann@example.com")
    );
}

#[test]
fn escaped_markup_stays_text() {
    let html = Html::parse(
        r#"<input id="email" value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"><p>a &lt;b&gt; &amp;amp; &#39;c&#x27; &bogus; & d</p>"#,
    );
    assert!(!html.has_element("script"));
    assert_eq!(
        html.field("email").map(|f| f.value()).as_deref(),
        Some("\"><script>alert(1)</script>")
    );
    assert_eq!(html.text(), "a <b> &amp; 'c' &bogus; & d");
    let unescaped = Html::parse(r#"<input id="email" value=""><script>alert(1)</script>">"#);
    assert!(unescaped.has_element("script"));
}
