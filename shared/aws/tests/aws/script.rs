//! The script writers: the local writer on real-looking pages in several languages, the
//! writing-system check, and the Bedrock writer on the exact Converse request it sends to a
//! loopback server standing in for Bedrock.

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use reelforge_aws::bedrock::BedrockWriter;
use reelforge_core::model::Language;
use reelforge_core::page::PageFacts;
use reelforge_core::script::{
    check_script_system, estimated_speech_seconds, ProviderFailure, Script, ScriptError,
    ScriptRequest, ScriptSource, ScriptWriter,
};
use reelforge_studio::LocalWriter;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

const EN_FEATURES: [&str; 4] = [
    "Write together in real time and see every teammate's cursor as they type",
    "Find any note in seconds with full-text search across every workspace",
    "Works offline and syncs the moment you reconnect",
    "Share a read-only link with clients in one click",
];

const JA_FEATURES: [&str; 3] = [
    "リアルタイムで同時に編集でき、メンバーのカーソルも見えます",
    "全文検索で、どのメモもすぐに見つかります",
    "オフラインでも使え、再接続すると自動で同期します",
];

fn en_page() -> PageFacts {
    PageFacts {
        title: Some("Acme Notes – Shared notes for busy teams | Acme".into()),
        description: Some(
            "Acme Notes keeps your team's notes, docs and decisions in one searchable place."
                .into(),
        ),
        headings: vec![
            "Acme Notes".into(),
            "Features".into(),
            "Built for teams that move fast".into(),
        ],
        features: EN_FEATURES.map(String::from).to_vec(),
        og: BTreeMap::from([("og:title".to_string(), "Acme Notes".to_string())]),
        alternates: BTreeMap::from([(
            "ja".to_string(),
            "https://example.com/ja/".parse().unwrap(),
        )]),
        lang: Some("en".into()),
        ..PageFacts::default()
    }
}

fn ja_alternate() -> PageFacts {
    PageFacts {
        title: Some("Acme Notes｜チームで使える共有ノート".into()),
        description: Some(
            "Acme Notesは、チームのメモや資料、決定事項をひとつの場所にまとめます。".into(),
        ),
        headings: vec!["Acme Notes".into(), "主な機能".into()],
        features: JA_FEATURES.map(String::from).to_vec(),
        lang: Some("ja".into()),
        ..PageFacts::default()
    }
}

fn request<'a>(
    language: Language,
    page: &'a PageFacts,
    alternate: Option<&'a PageFacts>,
) -> ScriptRequest<'a> {
    ScriptRequest {
        language,
        page,
        alternate,
        title: "example.com Campaign",
    }
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The Latin words of a text (runs of ASCII letters).
fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn is_kana(c: char) -> bool {
    ('\u{3040}'..='\u{30FF}').contains(&c)
}

async fn local(req: &ScriptRequest<'_>) -> Result<Script, ScriptError> {
    LocalWriter.write(req).await
}

// ---------------------------------------------------------------------------------------
// Local writer
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn english_page_gives_a_grounded_script_within_the_word_budget() {
    let page = en_page();
    let script = local(&request(Language::En, &page, None)).await.unwrap();

    assert_eq!(script.language, Language::En);
    assert_eq!(script.source, ScriptSource::PageLanguage);
    assert!(!script.not_from_page_language());
    assert_eq!(script.sentences.len(), 5, "{:#?}", script.sentences);
    assert!(
        script.sentences[0].contains("Acme Notes"),
        "{:?}",
        script.sentences[0]
    );
    assert!(
        script.sentences[0].contains("one searchable place"),
        "{:?}",
        script.sentences[0]
    );
    // The three points are the page's first three features, in order.
    assert!(script.sentences[1].starts_with("Write together in real time"));
    assert!(script.sentences[2].starts_with("Find any note in seconds"));
    assert!(script.sentences[3].starts_with("Works offline and syncs"));
    // The fourth feature lengthens a short point rather than being dropped.
    assert!(script
        .text()
        .contains("Share a read-only link with clients in one click."));
    assert!(script.sentences[4].starts_with("Try Acme Notes today"));
    let text = script.text();
    assert_eq!(text, script.sentences.join(" "));
    let n = words(&text);
    assert!((65..=110).contains(&n), "{n} words: {text}");
    assert!(
        estimated_speech_seconds(&text, Language::En) <= 45.0,
        "{text}"
    );
    for sentence in &script.sentences {
        assert!(sentence.ends_with(['.', '!', '?']), "{sentence:?}");
    }
}

#[tokio::test]
async fn a_long_page_is_cut_to_at_most_fifty_seconds() {
    let long = "Plan every sprint with boards, timelines and calendars, then share progress with \
                stakeholders through automatic weekly reports that everyone on the team and \
                outside it can read without creating an account or installing anything at all";
    let page = PageFacts {
        title: Some("Acme Plan".into()),
        description: Some(format!("{long}. {long}.")),
        features: vec![long.to_string(); 1]
            .into_iter()
            .chain((1..6).map(|i| format!("Feature {i}: {long}")))
            .collect(),
        ..PageFacts::default()
    };
    let script = local(&request(Language::En, &page, None)).await.unwrap();
    let text = script.text();
    assert!(words(&text) <= 115, "{} words: {text}", words(&text));
    assert!(
        estimated_speech_seconds(&text, Language::En) <= 45.0,
        "{text}"
    );
    assert_eq!(script.sentences.len(), 5);

    let ja = PageFacts {
        title: Some("アクメプラン".into()),
        description: Some("チームのスプリント計画、タイムライン、カレンダー、週次レポートの自動作成、外部の関係者への共有まで、プロジェクト管理に必要なことをすべてひとつの場所で行えます。".repeat(3)),
        features: (0..5).map(|i| format!("機能{i}：ボード、タイムライン、カレンダーで計画を立て、進捗を関係者と自動で共有し、アカウントがなくても誰でも読めるレポートを毎週届けます")).collect(),
        lang: Some("ja".into()),
        ..PageFacts::default()
    };
    let script = local(&request(Language::Ja, &ja, None)).await.unwrap();
    let text = script.text();
    assert_eq!(script.source, ScriptSource::PageLanguage);
    assert!(
        text.chars().count() <= 300,
        "{} chars: {text}",
        text.chars().count()
    );
    assert!(
        estimated_speech_seconds(&text, Language::Ja) <= 45.0,
        "{text}"
    );
}

#[tokio::test]
async fn a_thin_page_is_padded_with_built_in_phrasing() {
    let page = PageFacts {
        title: Some("Acme Notes".into()),
        ..PageFacts::default()
    };
    let script = local(&request(Language::En, &page, None)).await.unwrap();
    assert_eq!(script.sentences.len(), 5, "{:#?}", script.sentences);
    assert_eq!(script.source, ScriptSource::PageLanguage);
    let seconds = estimated_speech_seconds(&script.text(), Language::En);
    assert!(
        (20.0..=45.0).contains(&seconds),
        "{seconds} s: {}",
        script.text()
    );
    assert!(script.sentences.iter().all(|s| !s.is_empty()));
}

#[tokio::test]
async fn japanese_comes_from_the_japanese_alternate() {
    let page = en_page();
    let alternate = ja_alternate();
    let script = local(&request(Language::Ja, &page, Some(&alternate)))
        .await
        .unwrap();

    assert_eq!(script.source, ScriptSource::PageLanguage);
    assert!(!script.not_from_page_language());
    assert_eq!(script.sentences.len(), 5, "{:#?}", script.sentences);
    let text = script.text();
    assert_eq!(text, script.sentences.concat());
    assert!(text.contains("リアルタイムで同時に編集でき"), "{text}");
    assert!(text.contains("全文検索で"), "{text}");
    assert!(text.contains("ひとつの場所にまとめます"), "{text}");
    assert!(script.sentences[4].starts_with("Acme Notesを今すぐお試しください。"));
    // Nothing of the English page.
    assert_eq!(
        latin_words(&text)
            .iter()
            .filter(|w| !["Acme", "Notes"].contains(&w.as_str()))
            .count(),
        0,
        "{text}"
    );
    check_script_system(&text, Language::Ja).unwrap();
    let chars = text.chars().count();
    assert!((100..=300).contains(&chars), "{chars} chars: {text}");
}

#[tokio::test]
async fn korean_without_an_alternate_is_the_localized_template() {
    let page = en_page();
    let script = local(&request(Language::Ko, &page, None)).await.unwrap();

    assert_eq!(script.source, ScriptSource::LocalizedTemplate);
    assert!(script.not_from_page_language());
    assert_eq!(script.sentences.len(), 5);
    let text = script.text();
    assert!(text.contains("Acme Notes"), "{text}");
    assert!(
        text.chars().filter(|&c| is_hangul(c)).count() > 50,
        "{text}"
    );
    // The only Latin words are the product's name: no English feature sentence.
    for word in latin_words(&text) {
        assert!(
            ["Acme", "Notes"].contains(&word.as_str()),
            "{word:?} in {text}"
        );
    }
    check_script_system(&text, Language::Ko).unwrap();
}

#[tokio::test]
async fn the_template_passes_the_script_check_in_every_language() {
    // An Italian page: no requested language is the page's own.
    let page = PageFacts {
        title: Some("Acme Notes | Appunti condivisi per il tuo team".into()),
        description: Some("Acme Notes raccoglie gli appunti del team in un unico posto.".into()),
        features: vec![
            "Ricerca Veloce".into(),
            "Modifica in tempo reale con il team".into(),
        ],
        lang: Some("it".into()),
        ..PageFacts::default()
    };
    for &language in Language::ALL {
        let script = local(&request(language, &page, None)).await.unwrap();
        assert_eq!(script.source, ScriptSource::LocalizedTemplate, "{language}");
        assert_eq!(script.sentences.len(), 5, "{language}");
        let text = script.text();
        check_script_system(&text, language).unwrap_or_else(|e| panic!("{language}: {e}: {text}"));
        assert!(text.contains("Acme Notes"), "{language}: {text}");
        assert!(!text.contains("tempo reale"), "{language}: {text}");
        let seconds = estimated_speech_seconds(&text, language);
        assert!(
            (15.0..=50.0).contains(&seconds),
            "{language}: {seconds} s: {text}"
        );
    }
}

#[tokio::test]
async fn a_name_that_cannot_be_said_in_the_language_is_not_used() {
    let page = PageFacts {
        title: Some("アクメノート｜チームの共有ノート".into()),
        description: Some("アクメノートは、チームのメモをひとつの場所にまとめます。".into()),
        features: vec!["同時編集".into(), "全文検索".into()],
        lang: Some("ja".into()),
        ..PageFacts::default()
    };
    let req = ScriptRequest {
        language: Language::Ko,
        page: &page,
        alternate: None,
        title: "example.jp Campaign",
    };
    let script = local(&req).await.unwrap();
    let text = script.text();
    assert!(!text.chars().any(is_kana), "{text}");
    assert!(text.contains("example.jp"), "{text}");
    check_script_system(&text, Language::Ko).unwrap();

    let ja = local(&ScriptRequest {
        language: Language::Ja,
        ..req
    })
    .await
    .unwrap();
    assert_eq!(ja.source, ScriptSource::PageLanguage);
    assert!(ja.text().contains("アクメノート"), "{}", ja.text());
}

#[tokio::test]
async fn a_mislabelled_alternate_gives_the_template_not_english() {
    let page = en_page();
    // Tagged as the Japanese page, but English text.
    let alternate = PageFacts {
        lang: Some("ja".into()),
        ..en_page()
    };
    let script = local(&request(Language::Ja, &page, Some(&alternate)))
        .await
        .unwrap();
    assert_eq!(script.source, ScriptSource::LocalizedTemplate);
    let text = script.text();
    check_script_system(&text, Language::Ja).unwrap();
    assert!(!text.contains("real time"), "{text}");
}

#[tokio::test]
async fn the_local_writer_is_deterministic() {
    let page = en_page();
    let alternate = ja_alternate();
    for (language, alternate) in [
        (Language::En, None),
        (Language::Ja, Some(&alternate)),
        (Language::Ko, None),
        (Language::De, None),
    ] {
        let first = local(&request(language, &page, alternate)).await.unwrap();
        let second = local(&request(language, &page.clone(), alternate))
            .await
            .unwrap();
        assert_eq!(first, second, "{language}");
    }
}

#[tokio::test]
async fn an_empty_page_is_refused() {
    let page = PageFacts::default();
    let err = local(&request(Language::En, &page, None))
        .await
        .unwrap_err();
    assert!(matches!(err, ScriptError::NothingToWrite), "{err:?}");
    // An empty alternate does not rescue an empty page either.
    let empty = PageFacts::default();
    let err = local(&request(Language::Ja, &page, Some(&empty)))
        .await
        .unwrap_err();
    assert!(matches!(err, ScriptError::NothingToWrite), "{err:?}");
}

#[test]
fn the_script_check_refuses_the_wrong_writing_system() {
    let english = "Acme Notes keeps your team's notes in one searchable place.";
    let japanese = "Acme Notesは、チームのメモをひとつの場所にまとめます。";
    let korean = "지금 바로 Acme Notes의 기능을 직접 체험해 보세요.";
    let chinese = "立即试用Acme Notes，亲自感受它带来的不同。";
    let wrong = |text: &str, language| {
        matches!(
            check_script_system(text, language),
            Err(ScriptError::WrongScriptSystem { language: l }) if l == language
        )
    };

    for language in [Language::Ja, Language::Ko, Language::Zh] {
        assert!(wrong(english, language), "English accepted as {language}");
    }
    assert!(wrong(korean, Language::Ja));
    assert!(wrong(japanese, Language::Zh), "kana accepted as zh");
    assert!(wrong(japanese, Language::Ko));
    assert!(wrong(chinese, Language::Ko));
    for language in [
        Language::En,
        Language::Fr,
        Language::De,
        Language::Es,
        Language::Pt,
    ] {
        assert!(wrong(japanese, language), "Japanese accepted as {language}");
        assert!(wrong(korean, language), "Korean accepted as {language}");
    }
    assert!(wrong("", Language::En));
    assert!(wrong("123 !!!", Language::Ja));
    // English sentences with a word of Japanese are still English.
    assert!(wrong(&format!("{english} {english} です"), Language::Ja));

    check_script_system(english, Language::En).unwrap();
    check_script_system(japanese, Language::Ja).unwrap();
    check_script_system(korean, Language::Ko).unwrap();
    check_script_system(chinese, Language::Zh).unwrap();
    check_script_system("Essayez Acme Notes dès aujourd'hui.", Language::Fr).unwrap();
    check_script_system(
        "Probieren Sie Acme Notes noch heute aus – für Teams.",
        Language::De,
    )
    .unwrap();
    check_script_system("多言語対応", Language::Ja).unwrap();

    let err = check_script_system(english, Language::Ja).unwrap_err();
    assert!(err.to_string().contains("Japanese"), "{err}");
}

#[test]
fn scripts_serialize_with_snake_case_sources() {
    let script = Script {
        language: Language::Ko,
        sentences: vec!["하나.".into()],
        source: ScriptSource::LocalizedTemplate,
    };
    let json = serde_json::to_value(&script).unwrap();
    assert_eq!(json["source"], "localized_template");
    assert_eq!(json["language"], "ko");
    assert_eq!(serde_json::from_value::<Script>(json).unwrap(), script);
    assert!(!Script {
        source: ScriptSource::PageLanguage,
        ..script.clone()
    }
    .not_from_page_language());
    assert!(Script {
        source: ScriptSource::MachineTranslated,
        ..script
    }
    .not_from_page_language());
}

// ---------------------------------------------------------------------------------------
// Bedrock writer against a loopback stand-in
// ---------------------------------------------------------------------------------------

const MODEL_ID: &str = "anthropic.claude-3-haiku-20240307-v1:0";

#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-answer HTTP/1.1 server on 127.0.0.1: every request is recorded and gets the same
/// response.
struct StandIn {
    port: u16,
    requests: Arc<Mutex<Vec<Captured>>>,
}

impl StandIn {
    async fn start(status: u16, headers: &[(&str, &str)], body: String) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let mut head = format!(
            "HTTP/1.1 {status} Stand-in\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let response = format!("{head}\r\n{body}").into_bytes();
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                let response = response.clone();
                tokio::spawn(async move {
                    if let Some(captured) = read_request(&mut stream).await {
                        recorded.lock().unwrap().push(captured);
                        let _ = stream.write_all(&response).await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        StandIn { port, requests }
    }

    async fn answering(text: &str) -> StandIn {
        let body = serde_json::json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}
        });
        StandIn::start(200, &[], body.to_string()).await
    }

    fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    fn writer(&self) -> BedrockWriter {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build();
        BedrockWriter::new(aws_sdk_bedrockruntime::Client::from_conf(config), MODEL_ID)
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Captured> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if headers
        .iter()
        .any(|(k, v)| k == "expect" && v.eq_ignore_ascii_case("100-continue"))
    {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Captured {
        method,
        path,
        headers,
        body,
    })
}

const JA_ANSWER: [&str; 5] = [
    "Acme Notesは、チームのメモや資料をひとつの場所にまとめます。",
    "リアルタイムで同時に編集できます。",
    "全文検索で、どのメモもすぐに見つかります。",
    "オフラインでも使え、再接続すると自動で同期します。",
    "Acme Notesを今すぐお試しください。",
];

fn fenced(sentences: &[&str]) -> String {
    format!(
        "```json\n{}\n```",
        serde_json::to_string(sentences).unwrap()
    )
}

#[tokio::test]
async fn bedrock_sends_one_converse_request_and_reads_the_script() {
    let server = StandIn::answering(&fenced(&JA_ANSWER)).await;
    let page = en_page();
    let script = server
        .writer()
        .write(&request(Language::Ja, &page, None))
        .await
        .unwrap();

    assert_eq!(script.language, Language::Ja);
    assert_eq!(script.sentences, JA_ANSWER.map(String::from).to_vec());
    assert_eq!(script.source, ScriptSource::MachineTranslated);
    assert!(script.not_from_page_language());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert!(sent
        .header("authorization")
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")));
    let body = sent.json();
    let system = body["system"][0]["text"].as_str().expect("a system prompt");
    assert!(system.contains("Japanese"), "{system}");
    assert!(system.contains("JSON array"), "{system}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["messages"][0]["role"], "user");
    let user = body["messages"][0]["content"][0]["text"]
        .as_str()
        .expect("a user message");
    for feature in EN_FEATURES {
        assert!(user.contains(feature), "{feature:?} not in {user}");
    }
    assert!(user.contains("one searchable place"), "{user}");
    assert!(
        user.contains("\"page_is_in_target_language\":false"),
        "{user}"
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 800);
    let temperature = body["inferenceConfig"]["temperature"].as_f64().unwrap();
    assert!((temperature - 0.3).abs() < 1e-6, "{temperature}");
}

#[tokio::test]
async fn bedrock_writes_from_the_alternate_in_its_language() {
    let server = StandIn::answering(&serde_json::to_string(&JA_ANSWER).unwrap()).await;
    let page = en_page();
    let alternate = ja_alternate();
    let script = server
        .writer()
        .write(&request(Language::Ja, &page, Some(&alternate)))
        .await
        .unwrap();
    assert_eq!(script.source, ScriptSource::PageLanguage);

    let user = server.requests()[0].json()["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    for feature in JA_FEATURES {
        assert!(user.contains(feature), "{feature:?} not in {user}");
    }
    assert!(!user.contains(EN_FEATURES[0]), "{user}");
    assert!(
        user.contains("\"page_is_in_target_language\":true"),
        "{user}"
    );
}

#[tokio::test]
async fn bedrock_answer_in_the_wrong_script_is_refused() {
    let english = [
        "Meet Acme Notes.",
        "Write together in real time.",
        "Find any note in seconds.",
        "Works offline.",
        "Try Acme Notes today.",
    ];
    let server = StandIn::answering(&serde_json::to_string(&english).unwrap()).await;
    let page = en_page();
    let err = server
        .writer()
        .write(&request(Language::Ko, &page, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScriptError::WrongScriptSystem {
                language: Language::Ko
            }
        ),
        "{err:?}"
    );

    // One English sentence among Japanese ones is refused too.
    let mut mixed = JA_ANSWER;
    mixed[2] = "Find any note in seconds with full-text search across every workspace.";
    let server = StandIn::answering(&serde_json::to_string(&mixed).unwrap()).await;
    let err = server
        .writer()
        .write(&request(Language::Ja, &page, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScriptError::WrongScriptSystem { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bedrock_answer_that_is_not_a_json_array_is_refused() {
    let page = en_page();
    for answer in [
        "Sure! Here is a script: Meet Acme Notes. Try it today.".to_string(),
        serde_json::to_string(&JA_ANSWER[..4]).unwrap(),
        "```json\n[\"unterminated\n```".to_string(),
    ] {
        let server = StandIn::answering(&answer).await;
        let err = server
            .writer()
            .write(&request(Language::Ja, &page, None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ScriptError::Provider(ProviderFailure::UnusableAnswer)),
            "{answer}: {err:?}"
        );
    }
}

#[tokio::test]
async fn bedrock_service_errors_are_provider_errors_without_internal_detail() {
    let page = en_page();
    for (status, kind, expected, retryable) in [
        (
            500,
            "InternalServerException",
            ProviderFailure::Unavailable,
            true,
        ),
        (
            503,
            "ServiceUnavailableException",
            ProviderFailure::Unavailable,
            true,
        ),
        (429, "ThrottlingException", ProviderFailure::Busy, true),
        (400, "ValidationException", ProviderFailure::Refused, false),
        (
            403,
            "AccessDeniedException",
            ProviderFailure::Refused,
            false,
        ),
    ] {
        let detail = "arn:aws:bedrock:us-east-1:123456789012:secret-internal-detail";
        let server = StandIn::start(
            status,
            &[("x-amzn-errortype", kind)],
            serde_json::json!({ "message": detail }).to_string(),
        )
        .await;
        let err = server
            .writer()
            .write(&request(Language::En, &page, None))
            .await
            .unwrap_err();
        match &err {
            ScriptError::Provider(failure) => assert_eq!(*failure, expected, "{status}"),
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(err.is_retryable(), retryable, "{status}");
        let shown = err.to_string();
        for secret in [
            "arn:",
            "123456789012",
            "secret-internal-detail",
            kind,
            "Bedrock",
        ] {
            assert!(!shown.contains(secret), "{status}: {shown}");
        }
        // Retries disabled: exactly one attempt.
        assert_eq!(server.requests().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn bedrock_is_not_called_for_an_empty_page() {
    let server = StandIn::answering(&serde_json::to_string(&JA_ANSWER).unwrap()).await;
    let page = PageFacts::default();
    let err = server
        .writer()
        .write(&request(Language::Ja, &page, None))
        .await
        .unwrap_err();
    assert!(matches!(err, ScriptError::NothingToWrite), "{err:?}");
    assert!(server.requests().is_empty());
}

/// The default model is a current model's cross-region inference profile, which the
/// template's IAM statement allows (`inference-profile/*`), not a legacy foundation id.
#[test]
fn the_default_model_is_an_inference_profile() {
    let id = reelforge_aws::bedrock::DEFAULT_MODEL_ID;
    let (geo, model) = id.split_once('.').expect("geo.model");
    assert!(["us", "eu", "apac", "global"].contains(&geo), "{id}");
    assert!(model.starts_with("anthropic.claude-"), "{id}");
    assert!(!id.contains("claude-3"), "a legacy model: {id}");
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .unwrap();
    assert!(
        template.contains(&format!("Default: {id}")),
        "template default differs"
    );
    assert!(template.contains(":inference-profile/*"));
}
