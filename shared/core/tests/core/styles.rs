//! Style profiles (SPEC §8): validation bounds, the overlay expression grammar, the
//! conversion to the render plan's caption style, and sealed provider keys.

use proptest::prelude::*;
use reelforge_core::render::{
    CaptionPosition, CaptionStyle, Corner, EndClip, FontFamily, FrameSize, Rgb, Shadow, Watermark,
};
use reelforge_core::styles::expr::{BinOp, Var, MAX_TOKENS};
use reelforge_core::styles::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn refused_field<T>(r: Result<T, ProfileError>) -> String {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => {
            assert!(
                e.message.starts_with(&e.field),
                "message {:?} must name the field {:?}",
                e.message,
                e.field
            );
            e.field
        }
    }
}

fn font(f: impl FnOnce(&mut FontProfile)) -> FontProfile {
    let mut p = FontProfile::default();
    f(&mut p);
    p
}

const SEED_FONT_PROFILE: &str = r##"{
    "font_profile_id": 1,
    "disabled": false,
    "profile_name": "New Font Profile",
    "name": "Poppins",
    "path": "Poppins",
    "size": 30,
    "bold": false,
    "italic": false,
    "underlined": false,
    "strikethrough": false,
    "caption_position": {
        "coordinate_id": 0,
        "overlay_visualizer": "Middle Center",
        "x": "(main_w-overlay_w)/2",
        "y": "(main_h-overlay_h)/2"
    },
    "caption_style_color": "#FFFFFF",
    "caption_style_stroke_color": "#000000",
    "caption_style_stroke_thickness": 2,
    "caption_shadow_x_pos": 16,
    "caption_shadow_y_pos": 14,
    "caption_shadow_color": "#000000",
    "caption_shadow_blur": 6,
    "caption_lines": 1,
    "caption_ai_keyword_highlighter": false,
    "caption_ai_keyword_highlighter_color": "#80B8FF",
    "caption_highlighter": true,
    "caption_highlighter_color": "#FFFF00",
    "preview_url": null
}"##;

// ---------------------------------------------------------------------------------------
// Font profile validation
// ---------------------------------------------------------------------------------------

#[test]
fn seed_font_profile_parses_and_validates() {
    let p: FontProfile = serde_json::from_str(SEED_FONT_PROFILE).unwrap();
    p.validate().unwrap();
    assert_eq!(
        p,
        FontProfile {
            caption_position: CaptionPositionSpec {
                overlay_visualizer: OverlayPreset::MiddleCenter,
                x: Some("(main_w-overlay_w)/2".into()),
                y: Some("(main_h-overlay_h)/2".into()),
            },
            ..FontProfile::default()
        }
    );
    FontProfile::default().validate().unwrap();
    // Serializes back with the seed's field names.
    let v = serde_json::to_value(&p).unwrap();
    for field in [
        "profile_name",
        "name",
        "size",
        "underlined",
        "caption_position",
        "caption_style_stroke_thickness",
        "caption_shadow_x_pos",
        "caption_lines",
        "caption_highlighter_color",
        "caption_ai_keyword_highlighter_color",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert_eq!(v["caption_position"]["overlay_visualizer"], "Middle Center");
}

#[test]
fn every_numeric_bound_is_checked_on_both_sides() {
    type Set = fn(&mut FontProfile, i64);
    let cases: [(&str, Set, i64, i64); 7] = [
        ("size", |p, v| p.size = v, 8, 200),
        (
            "caption_style_stroke_thickness",
            |p, v| p.caption_style_stroke_thickness = v,
            0,
            20,
        ),
        (
            "caption_shadow_x_pos",
            |p, v| p.caption_shadow_x_pos = v,
            -50,
            50,
        ),
        (
            "caption_shadow_y_pos",
            |p, v| p.caption_shadow_y_pos = v,
            -50,
            50,
        ),
        (
            "caption_shadow_blur",
            |p, v| p.caption_shadow_blur = v,
            0,
            20,
        ),
        ("caption_lines", |p, v| p.caption_lines = v, 1, 4),
        // And again with the other lines bound, so each side is hit with expressions on.
        (
            "caption_lines",
            |p, v| {
                p.caption_lines = v;
                p.caption_position.y = Some("main_h-overlay_h".into());
            },
            1,
            4,
        ),
    ];
    for (field, set, lo, hi) in cases {
        for ok in [lo, hi] {
            font(|p| set(p, ok))
                .validate()
                .unwrap_or_else(|e| panic!("{field}={ok}: {e}"));
        }
        for bad in [lo - 1, hi + 1, i64::MIN, i64::MAX] {
            assert_eq!(
                refused_field(font(|p| set(p, bad)).validate()),
                field,
                "{field}={bad}"
            );
        }
    }
}

#[test]
fn font_names_are_letters_digits_spaces_and_hyphens() {
    for ok in [
        "Poppins",
        "Noto Sans CJK JP",
        "Source-Han 2",
        &"a".repeat(64),
        "Ubuntu Mono",
    ] {
        font(|p| p.name = ok.into())
            .validate()
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "",
        " ",
        " Poppins",
        "Poppins ",
        &"a".repeat(65),
        "Arial,Bold",
        "a_b",
        "Comic{\\b1}",
        "x;y",
        "Font\nName",
        "a'b",
        "a:b",
    ] {
        assert_eq!(
            refused_field(font(|p| p.name = bad.into()).validate()),
            "name",
            "{bad:?}"
        );
    }
}

#[test]
fn profile_names_are_bounded() {
    font(|p| p.profile_name = "p".repeat(100))
        .validate()
        .unwrap();
    for bad in [
        String::new(),
        "   ".into(),
        "p".repeat(101),
        "a\nb".into(),
        "a\u{7}".into(),
    ] {
        assert_eq!(
            refused_field(font(|p| p.profile_name = bad.clone()).validate()),
            "profile_name",
            "{bad:?}"
        );
    }
}

#[test]
fn colours_must_be_rrggbb() {
    type Set = fn(&mut FontProfile, &str);
    let fields: [(&str, Set); 5] = [
        ("caption_style_color", |p, v| {
            p.caption_style_color = v.into()
        }),
        ("caption_style_stroke_color", |p, v| {
            p.caption_style_stroke_color = v.into()
        }),
        ("caption_shadow_color", |p, v| {
            p.caption_shadow_color = v.into()
        }),
        ("caption_highlighter_color", |p, v| {
            p.caption_highlighter_color = v.into()
        }),
        ("caption_ai_keyword_highlighter_color", |p, v| {
            p.caption_ai_keyword_highlighter_color = v.into()
        }),
    ];
    for (field, set) in fields {
        for ok in ["#ffffff", "#FFFFFF", "#000000", "#80b8FF", "#0a0B0c"] {
            font(|p| set(p, ok))
                .validate()
                .unwrap_or_else(|e| panic!("{field}={ok}: {e}"));
        }
        for bad in [
            "#FFF",
            "red",
            "#GGGGGG",
            "FFFFFF",
            "#FFFFFF00",
            "",
            "#FFFFF",
            " #FFFFFF",
            "#FFFFFF ",
            "rgb(1,2,3)",
            "#ＦＦＦＦＦＦ",
        ] {
            assert_eq!(
                refused_field(font(|p| set(p, bad)).validate()),
                field,
                "{field}={bad:?}"
            );
        }
    }
}

#[test]
fn overlay_presets_and_custom() {
    for name in [
        "Top Center",
        "Middle Center",
        "Lower Third",
        "Bottom Center",
    ] {
        let json = format!(r#"{{"caption_position":{{"overlay_visualizer":"{name}"}}}}"#);
        let p: FontProfile = serde_json::from_str(&json).unwrap();
        p.validate().unwrap();
        assert_eq!(p.caption_position.overlay_visualizer.name(), name);
    }
    // Unknown presets are refused while parsing, naming the field.
    for bad in ["Top Left", "middle center", "", "Bottom Right"] {
        let json = format!(r#"{{"caption_position":{{"overlay_visualizer":"{bad}"}}}}"#);
        let err = serde_json::from_str::<FontProfile>(&json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("caption_position.overlay_visualizer must be one of"),
            "{err}"
        );
    }
    // Custom needs both expressions.
    let custom = |x: Option<&str>, y: Option<&str>| {
        font(|p| {
            p.caption_position = CaptionPositionSpec {
                overlay_visualizer: OverlayPreset::Custom,
                x: x.map(Into::into),
                y: y.map(Into::into),
            }
        })
    };
    custom(Some("10"), Some("main_h-overlay_h"))
        .validate()
        .unwrap();
    assert_eq!(
        refused_field(custom(Some("10"), None).validate()),
        "caption_position"
    );
    assert_eq!(
        refused_field(custom(None, Some("10")).validate()),
        "caption_position"
    );
    assert_eq!(
        refused_field(custom(Some(""), Some("10")).validate()),
        "caption_position"
    );
}

const MALICIOUS: &[&str] = &[
    "0:enable='between(t,0,5)'",
    "main_w;drawtext=text=x",
    "[in]",
    "\"1\"",
    "'1'",
    "if(1,2,3)",
    "random(1)",
    "t",
    "n",
    "main_w,overlay_w",
    "1e309",
    "1E5",
    "0x10",
    "W",
    "main_w)",
    "(main_w",
    "main_w overlay_w",
    "main_w-",
    "*2",
    "()",
    "1..2",
    "\u{0}",
    "main_w\n",
    "main_w%2",
    "main_w^2",
    "MAIN_W",
    "ｍain_w",
    "1/0",
    "main_w/(overlay_w-overlay_w)",
    "0/0",
    "",
    "   ",
];

fn huge_inputs() -> Vec<String> {
    vec![
        "(".repeat(10 * 1024),
        "1".repeat(10 * 1024),
        "-".repeat(10 * 1024) + "1",
        format!("{}1{}", "(".repeat(40), ")".repeat(40)),
        vec!["1"; MAX_TOKENS].join("+"),
    ]
}

#[test]
fn malicious_expressions_are_refused() {
    let all: Vec<String> = MALICIOUS
        .iter()
        .map(|s| s.to_string())
        .chain(huge_inputs())
        .collect();
    for s in &all {
        let r = parse(s).and_then(|e| e.eval(1080.0, 1920.0, 900.0, 200.0));
        let err = r.expect_err(s);
        assert!(err.to_string().len() < 160, "{s:?}: {err}");
        // The same refusal through a font profile names the axis.
        for axis in ["x", "y"] {
            let p = font(|p| {
                let e = Some(s.clone());
                if axis == "x" {
                    p.caption_position.x = e
                } else {
                    p.caption_position.y = e
                }
            });
            if s.trim().is_empty() {
                // Blank means "not given": the preset applies.
                p.validate().unwrap();
                continue;
            }
            assert_eq!(
                refused_field(p.validate()),
                format!("caption_position.{axis}"),
                "{s:?}"
            );
        }
    }
    // Division by zero is an evaluation error, not a parse error.
    assert!(parse("1/0").is_ok());
    assert_eq!(
        parse("1/0").unwrap().eval(1.0, 1.0, 1.0, 1.0),
        Err(ExprError::DivisionByZero)
    );
    assert_eq!(
        parse("main_w/(overlay_w-overlay_w)")
            .unwrap()
            .eval(1080.0, 1920.0, 900.0, 200.0),
        Err(ExprError::DivisionByZero)
    );
    assert_eq!(parse(&"(".repeat(10 * 1024)), Err(ExprError::TooLong));
    assert_eq!(parse("t"), Err(ExprError::UnknownVariable("t".into())));
    assert_eq!(
        parse("random(1)"),
        Err(ExprError::FunctionCall("random".into()))
    );
    assert_eq!(
        parse("main_w;drawtext=text=x"),
        Err(ExprError::UnexpectedChar(';', 6))
    );
    assert_eq!(parse(""), Err(ExprError::Empty));
}

#[test]
fn non_finite_results_are_refused() {
    let e = parse("main_w*main_w*main_w").unwrap();
    assert_eq!(e.eval(1e200, 1.0, 1.0, 1.0), Err(ExprError::NotFinite));
    assert_eq!(
        parse("main_w").unwrap().eval(f64::NAN, 1.0, 1.0, 1.0),
        Err(ExprError::NotFinite)
    );
    assert_eq!(
        parse("overlay_h")
            .unwrap()
            .eval(1.0, 1.0, 1.0, f64::INFINITY),
        Err(ExprError::NotFinite)
    );
    // Literals alone cannot overflow within the limits (at most 16 literals below 1e15,
    // none smaller than 1e-13), so only extreme frame sizes get here.
    let e = parse("main_w/overlay_w").unwrap();
    assert_eq!(e.eval(1e300, 1.0, 1e-300, 1.0), Err(ExprError::NotFinite));
}

#[test]
fn seed_expressions_evaluate() {
    let x = parse("(main_w-overlay_w)/2").unwrap();
    let y = parse("(main_h-overlay_h)/2").unwrap();
    assert_eq!(x.eval(1080.0, 1920.0, 900.0, 200.0), Ok(90.0));
    assert_eq!(y.eval(1080.0, 1920.0, 900.0, 200.0), Ok(860.0));
    assert_eq!(x.eval(1920.0, 1080.0, 1000.0, 100.0), Ok(460.0));
    assert_eq!(y.eval(1920.0, 1080.0, 1000.0, 100.0), Ok(490.0));
}

#[test]
fn precedence_and_unary_minus() {
    let ev = |s: &str| parse(s).unwrap().eval(100.0, 200.0, 10.0, 20.0).unwrap();
    assert_eq!(ev("1+2*3"), 7.0);
    assert_eq!(ev("(1+2)*3"), 9.0);
    assert_eq!(ev("main_w-overlay_w-10"), 80.0);
    assert_eq!(ev("main_w-(overlay_w-10)"), 100.0);
    assert_eq!(ev("main_h/overlay_h/2"), 5.0);
    assert_eq!(ev("main_h/(overlay_h/2)"), 20.0);
    assert_eq!(ev("-main_w+overlay_w"), -90.0);
    assert_eq!(ev("-(main_w+overlay_w)"), -110.0);
    assert_eq!(ev("main_w*-2"), -200.0);
    assert_eq!(ev("---1"), -1.0);
    assert_eq!(ev("2.5*4"), 10.0);
    assert_eq!(ev("0.25 * main_h"), 50.0);
    assert_eq!(
        parse("1+2*3").unwrap(),
        Expr::Bin(
            BinOp::Add,
            Box::new(Expr::Num(1.0)),
            Box::new(Expr::Bin(
                BinOp::Mul,
                Box::new(Expr::Num(2.0)),
                Box::new(Expr::Num(3.0))
            ))
        )
    );
    assert_eq!(
        parse("-main_w*2").unwrap(),
        Expr::Bin(
            BinOp::Mul,
            Box::new(Expr::Neg(Box::new(Expr::Var(Var::MainW)))),
            Box::new(Expr::Num(2.0))
        )
    );
}

// ---------------------------------------------------------------------------------------
// Grammar properties
// ---------------------------------------------------------------------------------------

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0u32..100_000).prop_map(|n| Expr::Num(n as f64)),
        (0u32..10_000, 1u32..1000)
            .prop_map(|(a, b)| Expr::Num(format!("{a}.{b}").parse().unwrap())),
        proptest::sample::select(Var::ALL.to_vec()).prop_map(Expr::Var),
    ];
    leaf.prop_recursive(5, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
            (
                proptest::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]),
                inner.clone(),
                inner
            )
                .prop_map(|(op, l, r)| Expr::Bin(op, Box::new(l), Box::new(r))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_grammar_like_strings(
        s in "[-+*/() \t0-9.a-z_,:;'\"\\[\\]]{0,300}"
    ) {
        if let Ok(e) = parse(&s) {
            // Whatever parses prints back to something that parses to the same tree.
            let printed = e.to_string();
            prop_assert_eq!(parse(&printed), Ok(e.clone()), "{:?} -> {:?}", s, printed);
            prop_assert!(printed.len() <= s.len());
            let _ = e.eval(1080.0, 1920.0, 900.0, 200.0);
        }
    }

    #[test]
    fn token_soup_parses_or_is_refused_and_round_trips(
        toks in proptest::collection::vec(proptest::sample::select(vec![
            "main_w", "main_h", "overlay_w", "overlay_h", "(", ")", "+", "-", "*", "/",
            "0", "1", "2.5", "007.50", "1080", " ",
        ]), 0..48)
    ) {
        let s = toks.concat();
        if let Ok(e) = parse(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse(&printed), Ok(e.clone()), "{:?} -> {:?}", s, printed);
            prop_assert!(printed.len() <= s.len());
        }
    }

    #[test]
    fn printing_then_parsing_gives_the_same_ast(e in arb_expr()) {
        let printed = e.to_string();
        match parse(&printed) {
            Ok(back) => prop_assert_eq!(back, e, "{}", printed),
            // Generated trees may outgrow the limits; nothing else may fail.
            Err(err) => prop_assert!(
                matches!(err, ExprError::TooLong | ExprError::TooManyTokens | ExprError::TooDeep),
                "{} -> {}", printed, err
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Conversion to the render plan
// ---------------------------------------------------------------------------------------

#[test]
fn font_profile_carries_every_field_into_the_caption_style() {
    let p = FontProfile {
        profile_name: "Bold yellow".into(),
        name: "Noto Sans CJK JP".into(),
        size: 57,
        bold: true,
        italic: true,
        underlined: true,
        strikethrough: true,
        caption_position: CaptionPositionSpec::preset(OverlayPreset::TopCenter),
        caption_style_color: "#102030".into(),
        caption_style_stroke_color: "#405060".into(),
        caption_style_stroke_thickness: 7,
        caption_shadow_x_pos: -11,
        caption_shadow_y_pos: 13,
        caption_shadow_color: "#708090".into(),
        caption_shadow_blur: 9,
        caption_lines: 3,
        caption_highlighter: false,
        caption_highlighter_color: "#A0B0C0".into(),
        caption_ai_keyword_highlighter: true,
        caption_ai_keyword_highlighter_color: "#D0E0F0".into(),
    };
    p.validate().unwrap();
    // A full struct literal: a field added to CaptionStyle breaks this test until mapped.
    let expected = CaptionStyle {
        font: "Noto Sans CJK JP".parse::<FontFamily>().unwrap(),
        size: 57,
        bold: true,
        italic: true,
        underline: true,
        strikethrough: true,
        color: Rgb::new(0x10, 0x20, 0x30),
        stroke_color: Rgb::new(0x40, 0x50, 0x60),
        stroke_thickness: 7,
        shadow: Shadow {
            x: -11,
            y: 13,
            color: Rgb::new(0x70, 0x80, 0x90),
            blur: 9,
        },
        lines: 3,
        highlighter: false,
        highlight_color: Rgb::new(0xA0, 0xB0, 0xC0),
        position: CaptionPosition::TopCenter,
        // Not a profile field: the box that keeps captions readable on any page stays.
        backdrop: CaptionStyle::default().backdrop,
    };
    assert_eq!(p.caption_style(), expected);
    // The opposite booleans travel too.
    let q = FontProfile {
        bold: false,
        italic: false,
        underlined: false,
        strikethrough: false,
        caption_highlighter: true,
        ..p.clone()
    };
    let s = q.caption_style();
    assert!(!s.bold && !s.italic && !s.underline && !s.strikethrough && s.highlighter);
    // Every preset maps to the renderer's named position.
    for (preset, pos) in [
        (OverlayPreset::TopCenter, CaptionPosition::TopCenter),
        (OverlayPreset::MiddleCenter, CaptionPosition::MiddleCenter),
        (OverlayPreset::LowerThird, CaptionPosition::LowerThird),
        (OverlayPreset::BottomCenter, CaptionPosition::BottomCenter),
    ] {
        let q = FontProfile {
            caption_position: CaptionPositionSpec::preset(preset),
            ..p.clone()
        };
        assert_eq!(q.caption_style().position, pos);
    }
}

#[test]
fn caption_style_passes_the_renderers_validation() {
    use reelforge_core::render::{AudioTrack, Captions, Card, CardKind, RenderPlan, Scene, Shot};
    for p in [
        FontProfile::default(),
        serde_json::from_str(SEED_FONT_PROFILE).unwrap(),
        font(|p| {
            p.size = 200;
            p.caption_style_stroke_thickness = 20;
            p.caption_shadow_x_pos = -50;
            p.caption_shadow_y_pos = 50;
            p.caption_shadow_blur = 20;
            p.caption_lines = 4;
            p.caption_position.x = Some("main_w*5".into());
            p.caption_position.y = Some("-main_h".into());
        }),
    ] {
        p.validate().unwrap();
        for frame in [FrameSize::PORTRAIT_1080, FrameSize::LANDSCAPE_1080] {
            let plan = RenderPlan {
                size: frame,
                fps: 30,
                scenes: vec![Scene {
                    duration_ms: 1000,
                    shot: Shot::Card(Card {
                        kind: CardKind::Opening,
                        title: "x".into(),
                        subtitle: String::new(),
                        pill: None,
                        monogram: None,
                        colours: (Rgb::BLACK, Rgb::WHITE),
                    }),
                    transition: Default::default(),
                    note: String::new(),
                }],
                voiceover: AudioTrack {
                    path: "v.wav".into(),
                    duration_ms: 1000,
                },
                speech: vec![],
                music: None,
                captions: Some(Captions {
                    language: "en".into(),
                    style: p.caption_style_for(frame),
                    cues: vec![],
                }),
                watermark: None,
                end_clip: None,
            };
            plan.validate().unwrap();
        }
    }
}

#[test]
fn expressions_resolve_to_the_caption_centre_clamped() {
    let spec = |x: Option<&str>, y: Option<&str>| CaptionPositionSpec {
        overlay_visualizer: OverlayPreset::TopCenter,
        x: x.map(Into::into),
        y: y.map(Into::into),
    };
    let at = |x: f32, y: f32| Ok(CaptionPosition::At { x, y });
    // The seed's centring expressions put the centre in the middle whatever the sizes.
    let seed = spec(Some("(main_w-overlay_w)/2"), Some("(main_h-overlay_h)/2"));
    assert_eq!(seed.resolve(1080.0, 1920.0, 900.0, 200.0), at(0.5, 0.5));
    assert_eq!(seed.resolve(1920.0, 1080.0, 300.0, 50.0), at(0.5, 0.5));
    // Right/bottom edge flush: centre half a block in from the edge.
    assert_eq!(
        spec(Some("main_w-overlay_w"), Some("main_h-overlay_h"))
            .resolve(1000.0, 2000.0, 200.0, 400.0),
        at(0.9, 0.9)
    );
    // Only y given: x comes from the preset; y = 100 px top edge + 50 half-height.
    assert_eq!(
        spec(None, Some("100")).resolve(1000.0, 1000.0, 100.0, 100.0),
        at(0.5, 0.15)
    );
    // Only x given: y from the preset (Top Center: the safe zone's top edge, 0.0).
    assert_eq!(
        spec(Some("0"), None).resolve(1000.0, 1000.0, 100.0, 100.0),
        at(0.05, 0.0)
    );
    // Clamped into the frame.
    assert_eq!(
        spec(Some("main_w*2"), Some("-main_h")).resolve(1000.0, 1000.0, 10.0, 10.0),
        at(1.0, 0.0)
    );
    // Errors surface; the profile's caption style then falls back to the preset.
    assert_eq!(
        spec(Some("1/(main_w-1080)"), None).resolve(1080.0, 1920.0, 10.0, 10.0),
        Err(ExprError::DivisionByZero)
    );
    assert_eq!(
        spec(Some("t"), None)
            .resolve(1080.0, 1920.0, 10.0, 10.0)
            .unwrap_err(),
        ExprError::UnknownVariable("t".into())
    );
    assert_eq!(
        seed.resolve(0.0, 1920.0, 10.0, 10.0),
        Err(ExprError::NotFinite)
    );
    let p = font(|p| p.caption_position = spec(Some("1/(overlay_w-overlay_w)"), None));
    assert_eq!(p.caption_style().position, CaptionPosition::TopCenter);
    // The profile's caption style evaluates the expressions inside the safe zone
    // (`main_w`/`main_h` are its size) with its estimated caption block.
    let p = font(|p| {
        p.caption_position = spec(Some("(main_w-overlay_w)/2"), Some("main_h-overlay_h-100"))
    });
    let CaptionPosition::At { x, y } = p.caption_style_for(FrameSize::PORTRAIT_1080).position
    else {
        panic!("expected At")
    };
    let style = p.caption_style();
    let (_, bh) = estimated_caption_block(&style, FrameSize::PORTRAIT_1080);
    assert_eq!(x, 0.5);
    let zone_h = f64::from(reelforge_core::render::safe_zone(FrameSize::PORTRAIT_1080).height);
    assert!(
        (y as f64 - (zone_h - bh / 2.0 - 100.0) / zone_h).abs() < 1e-6,
        "{y}"
    );
    let CaptionPosition::At { y: y2, .. } = p.caption_style_for(FrameSize::LANDSCAPE_1080).position
    else {
        panic!("expected At")
    };
    assert!(
        y2 < y,
        "100 px is a bigger share of the landscape zone's height: {y2} vs {y}"
    );
}

// ---------------------------------------------------------------------------------------
// Media profile, voice profile, voice, playlist
// ---------------------------------------------------------------------------------------

#[test]
fn media_profile_bounds_and_watermark() {
    let mut m = MediaProfile::default();
    m.validate().unwrap();
    assert_eq!(m.watermark("/tmp/w.png"), None);
    assert_eq!(m.end_clip("/tmp/e.mp4"), None);
    for ok in [0.02f32, 0.5, 0.2] {
        MediaProfile {
            watermark_width_fraction: ok,
            ..m.clone()
        }
        .validate()
        .unwrap();
    }
    for bad in [0.019f32, 0.501, 0.0, -0.2, 1.0, f32::NAN] {
        let r = MediaProfile {
            watermark_width_fraction: bad,
            ..m.clone()
        }
        .validate();
        assert_eq!(refused_field(r), "watermark_width_fraction", "{bad}");
    }
    for bad in [
        "",
        "../etc/passwd",
        "/abs/key.png",
        "a//b",
        "a/./b",
        "logo png",
        "a\\b",
    ] {
        let r = MediaProfile {
            watermark_key: Some(bad.into()),
            ..m.clone()
        }
        .validate();
        assert_eq!(refused_field(r), "watermark_key", "{bad:?}");
        let r = MediaProfile {
            end_clip_key: Some(bad.into()),
            ..m.clone()
        }
        .validate();
        assert_eq!(refused_field(r), "end_clip_key", "{bad:?}");
    }
    m = serde_json::from_str(
        r#"{"profile_name":"Brand","watermark_key":"uploads/acct1/logo.png",
            "watermark_position":"bottom_left","watermark_width_fraction":0.3,
            "end_clip_key":"uploads/acct1/outro.mp4"}"#,
    )
    .unwrap();
    m.validate().unwrap();
    assert_eq!(
        m.watermark("/tmp/logo.png"),
        Some(Watermark {
            image: "/tmp/logo.png".into(),
            position: Corner::BottomLeft,
            width_fraction: 0.3
        })
    );
    assert_eq!(
        m.end_clip("/tmp/outro.mp4"),
        Some(EndClip {
            path: "/tmp/outro.mp4".into()
        })
    );
    // No corner given: the renderer's default; width default 0.2.
    let m: MediaProfile =
        serde_json::from_str(r#"{"watermark_key":"k.png","watermark_position":null}"#).unwrap();
    assert_eq!(m.watermark("w.png").unwrap().position, Corner::default());
    assert_eq!(m.watermark("w.png").unwrap().width_fraction, 0.2);
    // The seed's field names are accepted.
    let m: MediaProfile = serde_json::from_str(
        r#"{"media_profile_id":1,"disabled":false,"profile_name":"New Media Profile",
            "watermark_path":"a/w.png","watermark_position":null,"end_clip_path":"a/e.mp4","preview_url":null}"#,
    )
    .unwrap();
    assert_eq!(m.watermark_key.as_deref(), Some("a/w.png"));
    assert_eq!(m.end_clip_key.as_deref(), Some("a/e.mp4"));
    for (name, corner) in [
        ("top_left", Corner::TopLeft),
        ("top_right", Corner::TopRight),
        ("bottom_left", Corner::BottomLeft),
        ("bottom_right", Corner::BottomRight),
    ] {
        let m: MediaProfile =
            serde_json::from_str(&format!(r#"{{"watermark_position":"{name}"}}"#)).unwrap();
        assert_eq!(m.watermark_position, Some(corner));
    }
    for bad in ["center", "TopLeft", "top-left", ""] {
        let err =
            serde_json::from_str::<MediaProfile>(&format!(r#"{{"watermark_position":"{bad}"}}"#))
                .unwrap_err()
                .to_string();
        assert!(err.contains("watermark_position must be one of"), "{err}");
    }
}

fn voice_input(json: &str) -> VoiceProfileInput {
    serde_json::from_str(json).unwrap()
}

#[test]
fn voice_profile_fields() {
    for p in ["polly", "elevenlabs", "azure", "espeak"] {
        let v = voice_input(&format!(r#"{{"provider_id":"{p}","region":"us-east-1"}}"#));
        v.validate().unwrap();
        assert_eq!(v.provider_id.as_str(), p);
    }
    for bad in ["openai", "Polly", "", "espeak-ng"] {
        let err =
            serde_json::from_str::<VoiceProfileInput>(&format!(r#"{{"provider_id":"{bad}"}}"#))
                .unwrap_err()
                .to_string();
        assert!(err.contains("provider_id must be one of"), "{err}");
    }
    let with_region = |r: &str| VoiceProfileInput {
        region: r.into(),
        ..voice_input(r#"{"provider_id":"azure"}"#)
    };
    for ok in ["", "eastus", "westus2", "ap-northeast-1", &"a".repeat(32)] {
        with_region(ok)
            .validate()
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        &"a".repeat(33) as &str,
        "US-EAST-1",
        "us_east",
        "us east",
        "ü",
        "us/east",
    ] {
        assert_eq!(
            refused_field(with_region(bad).validate()),
            "region",
            "{bad:?}"
        );
    }
    let with_key = |k: &str| VoiceProfileInput {
        api_key: Some(PlainSecret::new(k)),
        ..voice_input(r#"{"provider_id":"elevenlabs"}"#)
    };
    with_key("sk_live_abc123").validate().unwrap();
    with_key(&"k".repeat(512)).validate().unwrap();
    with_key("").validate().unwrap();
    for bad in [
        "k".repeat(513),
        "has space".into(),
        "tab\there".into(),
        "ключ".into(),
    ] {
        let e = with_key(&bad).validate().unwrap_err();
        assert_eq!(e.field, "api_key");
        assert!(!e.message.contains(&bad), "the key must not be echoed");
    }
    assert_eq!(
        refused_field(
            VoiceProfileInput {
                profile_name: String::new(),
                ..with_key("x")
            }
            .validate()
        ),
        "profile_name"
    );
    // The seed's voice profile shape parses (its plaintext key is sealed on the way in).
    let seed = voice_input(
        r#"{"voice_profile_id":1,"disabled":false,"profile_name":"New Voice Profile",
            "api_key":"api_key","region":"westus2","provider_id":"elevenlabs","provider_name":"ElevenLabs"}"#,
    );
    seed.validate().unwrap();
    assert_eq!(seed.profile_name, "New Voice Profile");
}

#[test]
fn voice_and_playlist_fields() {
    let voice = |id: &str| Voice {
        voice_name: "Test Voice".into(),
        voice_profile_id: "vp_01HXYZ".into(),
        provider_voice_id: id.into(),
    };
    for ok in [
        "test_voice_id",
        "Joanna",
        "en-US-JennyNeural",
        "eleven.v2_1",
        &"v".repeat(128),
    ] {
        voice(ok).validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "",
        &"v".repeat(129) as &str,
        "a b",
        "x/y",
        "a;b",
        "é",
        "a:b",
    ] {
        assert_eq!(
            refused_field(voice(bad).validate()),
            "provider_voice_id",
            "{bad:?}"
        );
    }
    assert_eq!(
        refused_field(
            Voice {
                voice_name: "".into(),
                ..voice("Joanna")
            }
            .validate()
        ),
        "voice_name"
    );
    assert_eq!(
        refused_field(
            Voice {
                voice_profile_id: "../x".into(),
                ..voice("Joanna")
            }
            .validate()
        ),
        "voice_profile_id"
    );
    let playlist: Playlist = serde_json::from_str(r#"{"playlist_name":"Playlist #1"}"#).unwrap();
    playlist.validate().unwrap();
    let full = Playlist {
        playlist_name: "Launch".into(),
        font_profile_id: Some("fp_1".into()),
        media_profile_id: Some("mp-2".into()),
        voice_profile_id: Some("v".repeat(64)),
    };
    full.validate().unwrap();
    assert_eq!(
        refused_field(
            Playlist {
                font_profile_id: Some("fp 1".into()),
                ..full.clone()
            }
            .validate()
        ),
        "font_profile_id"
    );
    assert_eq!(
        refused_field(
            Playlist {
                media_profile_id: Some(String::new()),
                ..full.clone()
            }
            .validate()
        ),
        "media_profile_id"
    );
    assert_eq!(
        refused_field(
            Playlist {
                voice_profile_id: Some("v".repeat(65)),
                ..full.clone()
            }
            .validate()
        ),
        "voice_profile_id"
    );
    assert_eq!(
        refused_field(
            Playlist {
                playlist_name: "\u{1b}[31m".into(),
                ..full
            }
            .validate()
        ),
        "playlist_name"
    );
}
