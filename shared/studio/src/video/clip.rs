//! One scene as one clip: an ffmpeg filter graph built from the plan's numbers (never its
//! text), encoded on its own so clips render in parallel, here or one per Lambda.
//!
//! Each clip is self-contained: its scene's image, the previous scene's image and spec
//! (its transition starts from the previous scene's last frame, recomputed here), the
//! card background and the clip's ASS file (captions shifted to the clip, card text).
//! Each image is decoded and converted once per clip and repeated by `loop`; per frame
//! there is only a crop, or for a zoom one small downscale and a crop.

use reelforge_core::render::{Cam, FrameSize, RenderPlan, Scene, Shot, Transition};
use std::fmt::Write as _;

/// The motion curve: ease-in-out (sine) blended with 15 % linear drift, so a move never
/// comes to rest (a still end would read as a frozen frame). `p` is an ffmpeg
/// expression of the scene's progress.
pub fn ease(p: &str, drift: f64) -> String {
    let q = format!("clip({p},0,1)");
    format!("({:.3}*(0.5-0.5*cos(PI*{q}))+{drift:.3}*{q})", 1.0 - drift)
}

/// [`ease`] evaluated here.
pub fn ease_at(p: f64, drift: f64) -> f64 {
    let q = p.clamp(0.0, 1.0);
    (1.0 - drift) * (0.5 - 0.5 * (std::f64::consts::PI * q).cos()) + drift * q
}

fn lerp(a: f64, b: f64, e: &str) -> String {
    format!("({a:.3}+({:.3})*{e})", b - a)
}

/// Transition length: 0.35 s.
pub fn transition_frames(fps: u32) -> u64 {
    (f64::from(fps) * 0.35).round().max(2.0) as u64
}

/// The camera's window on the page at progress `e` (0..=1, already eased).
pub fn camera_at(from: Cam, to: Cam, e: f64) -> Cam {
    Cam {
        x: from.x + (to.x - from.x) * e,
        y: from.y + (to.y - from.y) * e,
        zoom: from.zoom + (to.zoom - from.zoom) * e,
    }
}

/// Where the clip's inputs come from (indexes of `-i` arguments).
pub struct Inputs {
    /// The scene's image (a page, or the card background).
    pub this: usize,
    /// The previous scene's image, when there is a transition.
    pub prev: Option<usize>,
    pub watermark: Option<usize>,
}

/// The part of the page a camera scene needs: top, height (both even), and the padded
/// page height when the window runs past the page's bottom.
pub fn camera_region(
    frame: FrameSize,
    image_height: u32,
    from: Cam,
    to: Cam,
) -> (u32, u32, Option<u32>) {
    let (w, h) = (f64::from(frame.width), f64::from(frame.height));
    let _ = w;
    let top = (from.y.min(to.y).floor() as u32) & !1;
    let bottom = (from.y + h / from.zoom).max(to.y + h / to.zoom).ceil() as u32 + 2;
    let bottom = (bottom + 1) & !1;
    let pad = (bottom > image_height).then_some(bottom);
    (top, bottom - top, pad)
}

/// The chain (without output label) that draws `scene` for `frames` frames from the
/// input `[{input}:v]`. A card's text comes later (the clip's ASS file).
fn scene_chain(plan: &RenderPlan, scene: &Scene, input: usize, frames: u64) -> String {
    let FrameSize {
        width: fw,
        height: fh,
    } = plan.size;
    let fps = plan.fps;
    let t_total = frames as f64 / f64::from(fps);
    let p = format!("(t/{t_total:.6})");
    let looped = format!(
        "loop=loop={}:size=1:start=0,settb=1/{fps},setpts=N",
        frames.saturating_sub(1)
    );
    match &scene.shot {
        Shot::Camera {
            image_height,
            from,
            to,
            pad,
            ..
        } => {
            let (top, rh, padded) = camera_region(plan.size, *image_height, *from, *to);
            let zmax = from.zoom.max(to.zoom);
            let mut chain = format!("[{input}:v]");
            if let Some(ph) = padded {
                let _ = write!(chain, "pad=iw:{ph}:0:0:color=0x{:06x},", rgb_hex(*pad));
            }
            let _ = write!(chain, "crop={fw}:{rh}:0:{top},");
            if zmax > 1.0001 {
                let _ = write!(
                    chain,
                    "scale={}:{}:flags=lanczos,",
                    (f64::from(fw) * zmax) as u32 & !1,
                    (f64::from(rh) * zmax) as u32 & !1
                );
            }
            let e = ease(&p, 0.15);
            let x = lerp(from.x, to.x, &e);
            let y = lerp(from.y - f64::from(top), to.y - f64::from(top), &e);
            let _ = write!(chain, "format=yuv420p,{looped},");
            if (from.zoom - to.zoom).abs() < 1e-6 {
                let _ = write!(
                    chain,
                    "crop={fw}:{fh}:'{x}*{zmax:.4}':'{y}*{zmax:.4}':exact=1"
                );
            } else {
                let z = lerp(from.zoom, to.zoom, &e);
                let _ = write!(
                    chain,
                    "scale=w='2*trunc({fw}*{z}/2)':h=-2:eval=frame:flags=fast_bilinear,\
                     crop={fw}:{fh}:'{x}*{z}':'{y}*{z}':exact=1"
                );
            }
            chain
        }
        Shot::Card(_) => {
            let (bw, bh) = super::cards::background_size(plan.size);
            let bx = lerp(0.0, f64::from(bw - fw), &ease(&p, 0.5));
            format!(
                "[{input}:v]format=yuv420p,{looped},crop={fw}:{fh}:'{bx}':'({bx})*{:.5}':exact=1",
                f64::from(bh - fh) / f64::from(bw - fw)
            )
        }
    }
}

/// The chain (without output label) that draws `scene`'s frame number `k` of `frames`,
/// once: the still a transition starts from. A card's text is left out.
fn still_chain(plan: &RenderPlan, scene: &Scene, input: usize, k: u64, frames: u64) -> String {
    let FrameSize {
        width: fw,
        height: fh,
    } = plan.size;
    let progress = k as f64 / frames.max(1) as f64;
    match &scene.shot {
        Shot::Camera {
            image_height,
            from,
            to,
            pad,
            ..
        } => {
            let c = camera_at(*from, *to, ease_at(progress, 0.15));
            let (_, _, padded) = camera_region(plan.size, *image_height, *from, *to);
            let mut chain = format!("[{input}:v]");
            if let Some(ph) = padded {
                let _ = write!(chain, "pad=iw:{ph}:0:0:color=0x{:06x},", rgb_hex(*pad));
            }
            let _ = write!(
                chain,
                "crop={:.2}:{:.2}:{:.2}:{:.2}:exact=1,scale={fw}:{fh}:flags=bicubic,format=yuv420p",
                f64::from(fw) / c.zoom,
                f64::from(fh) / c.zoom,
                c.x,
                c.y
            );
            chain
        }
        Shot::Card(_) => {
            let (bw, bh) = super::cards::background_size(plan.size);
            let bx = f64::from(bw - fw) * ease_at(progress, 0.5);
            let by = bx * f64::from(bh - fh) / f64::from(bw - fw);
            format!("[{input}:v]crop={fw}:{fh}:{bx:.1}:{by:.1}:exact=1,format=yuv420p")
        }
    }
}

fn rgb_hex(c: reelforge_core::render::Rgb) -> u32 {
    (u32::from(c.r) << 16) | (u32::from(c.g) << 8) | u32::from(c.b)
}

/// The filter graph of clip `i` (`frames` frames), ending in `[vout]`. `ass` is the clip's
/// ASS file name in the working directory (captions and card text), if any; `watermark`
/// its width in pixels and position expressions.
pub fn clip_graph(
    plan: &RenderPlan,
    i: usize,
    frames: &[(u64, u64)],
    inputs: &Inputs,
    ass: Option<&str>,
    watermark: Option<(u32, String, String)>,
) -> String {
    let scene = &plan.scenes[i];
    let n = frames[i].1;
    let fps = plan.fps;
    let FrameSize {
        width: fw,
        height: fh,
    } = plan.size;
    let mut graph = scene_chain(plan, scene, inputs.this, n);
    graph.push_str(",setsar=1[cur];");
    let mut label = "cur";
    let k = transition_frames(fps).min(n.saturating_sub(1));
    if let (Some(prev_input), true) = (inputs.prev, i > 0 && k >= 2) {
        let prev = &plan.scenes[i - 1];
        let pn = frames[i - 1].1;
        let _ = write!(
            graph,
            "{},setsar=1,loop=loop={}:size=1:start=0,settb=1/{fps},setpts=N[prev];",
            still_chain(plan, prev, prev_input, pn.saturating_sub(1), pn),
            k - 1
        );
        let d = k as f64 / f64::from(fps);
        let step = 1.0 / f64::from(fps);
        match scene.transition {
            Transition::Wipe { colour } => {
                // A brand-coloured panel sweeps in from the right (ease-out), the cut
                // happens under it at half-time, then it sweeps out to the left.
                let h = k / 2;
                let (hd, rd) = (h as f64 / f64::from(fps), (k - h) as f64 / f64::from(fps));
                let qi = format!("clip((t+{step:.6})/{hd:.6},0,1)");
                let qo = format!("clip((t-{hd:.6}+{step:.6})/{rd:.6},0,1)");
                let _ = write!(
                    graph,
                    "[cur]split[c0][c1];[c0]trim=start_frame={h}:end_frame={k},setpts=PTS-STARTPTS[ca];\
                     [c1]trim=start_frame={k},setpts=PTS-STARTPTS[cb];\
                     [prev]trim=end_frame={h}[ph];[ph][ca]concat=n=2:v=1:a=0,settb=1/{fps},setpts=N[cut];\
                     color=c=0x{:06x}:s={fw}x{fh}:r={fps}:d={d:.6},format=yuv420p[panel];\
                     [cut][panel]overlay=x='if(lt(t,{:.6}),{fw}*pow(1-{qi},3),-{fw}*(1-pow(1-{qo},3)))':y=0:eval=frame[tra];\
                     [tra][cb]concat=n=2:v=1:a=0[tr];",
                    rgb_hex(colour),
                    hd - 1e-4
                );
            }
            Transition::PushUp | Transition::PushLeft | Transition::Flash => {
                // Ease-out cubic: the first frame has already moved a quarter of the way,
                // a jump a viewer (and scdet) sees as a cut; frame j shows (j+1)/k.
                let q = format!("clip((t+{step:.6})/{d:.6},0,1)");
                let (stack, crop) = if scene.transition == Transition::PushLeft {
                    (
                        "hstack",
                        format!("crop={fw}:{fh}:'{fw}*(1-pow(1-{q},3))':0:exact=1"),
                    )
                } else {
                    (
                        "vstack",
                        format!("crop={fw}:{fh}:0:'{fh}*(1-pow(1-{q},3))':exact=1"),
                    )
                };
                let flash = if scene.transition == Transition::Flash {
                    format!(",fade=t=in:st=0:d={:.6}:color=white", 2.0 / f64::from(fps))
                } else {
                    String::new()
                };
                let _ = write!(
                    graph,
                    "[cur]split[c0][c1];[c0]trim=end_frame={k},setpts=PTS-STARTPTS[ca];\
                     [c1]trim=start_frame={k},setpts=PTS-STARTPTS[cb];\
                     [prev][ca]{stack}=inputs=2,{crop}{flash}[tra];[tra][cb]concat=n=2:v=1:a=0[tr];"
                );
            }
        }
        label = "tr";
    }
    if let (Some(wm_input), Some((width, x, y))) = (inputs.watermark, watermark) {
        let _ = write!(
            graph,
            "[{wm_input}:v]scale={width}:-2,format=rgba[wm];[{label}][wm]overlay=x={x}:y={y}[marked];"
        );
        label = "marked";
    }
    match ass {
        Some(file) => {
            let _ = write!(graph, "[{label}]ass=filename={file}[vout]");
        }
        None => {
            let _ = write!(graph, "[{label}]null[vout]");
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_never_rests() {
        assert!((ease_at(0.0, 0.15)).abs() < 1e-12);
        assert!((ease_at(1.0, 0.15) - 1.0).abs() < 1e-12);
        // Speed at the ends is the drift, not zero.
        let v0 = ease_at(0.001, 0.15) / 0.001;
        assert!(v0 > 0.14, "{v0}");
        let e = ease("(t/2.0)", 0.15);
        assert!(e.contains("cos(PI*clip((t/2.0),0,1))"), "{e}");
    }

    /// Only numbers reach a filter graph: paths travel as `-i file:` arguments, text in
    /// ASS files.
    #[test]
    fn user_data_stays_out_of_the_filter_graph() {
        use reelforge_core::render::{
            AudioTrack, Card, CardKind, Rgb, Scene, Shot, Transition, Watermark,
        };
        let cam = |y: f64| Cam {
            x: 0.0,
            y,
            zoom: 1.0,
        };
        let plan = RenderPlan {
            size: FrameSize::PORTRAIT_1080,
            fps: 30,
            scenes: vec![
                Scene {
                    duration_ms: 1000,
                    shot: Shot::Card(Card {
                        kind: CardKind::Opening,
                        title: "evil';[x]drawtext=text=boom".into(),
                        subtitle: String::new(),
                        pill: None,
                        monogram: Some("E".into()),
                        colours: (Rgb::BLACK, Rgb::WHITE),
                    }),
                    transition: Transition::PushUp,
                    note: "evil note".into(),
                },
                Scene {
                    duration_ms: 1500,
                    shot: Shot::Camera {
                        image: "/tmp/x;[0:v]evil.png".into(),
                        image_width: 1080,
                        image_height: 4000,
                        from: cam(0.0),
                        to: cam(300.0),
                        pad: Rgb::WHITE,
                    },
                    transition: Transition::Wipe {
                        colour: Rgb::new(0x4f, 0x46, 0xe5),
                    },
                    note: String::new(),
                },
            ],
            voiceover: AudioTrack {
                path: "/tmp/v.wav".into(),
                duration_ms: 2500,
            },
            speech: vec![(0, 2000)],
            music: None,
            captions: None,
            watermark: Some(Watermark {
                image: "/tmp/wm.png".into(),
                position: reelforge_core::render::Corner::BottomLeft,
                width_fraction: 0.2,
            }),
            end_clip: None,
        };
        let frames = plan.scene_frames();
        assert_eq!(frames, vec![(0, 30), (30, 45)]);
        let inputs = Inputs {
            this: 0,
            prev: Some(1),
            watermark: Some(2),
        };
        let graph = clip_graph(
            &plan,
            1,
            &frames,
            &inputs,
            Some("clip1.ass"),
            Some((216, "43".into(), "H-h-43".into())),
        );
        assert!(!graph.contains("evil") && !graph.contains("boom") && !graph.contains("/tmp"));
        // The scene's 45 frames from one decoded image; the transition's 11 from one still.
        assert!(graph.contains("loop=loop=44:size=1"), "{graph}");
        assert!(graph.contains("loop=loop=10:size=1"), "{graph}");
        assert!(graph.contains("color=c=0x4f46e5"), "{graph}");
        assert!(graph.contains("overlay=x=43:y=H-h-43"), "{graph}");
        assert!(graph.ends_with("ass=filename=clip1.ass[vout]"), "{graph}");
    }

    #[test]
    fn the_region_is_padded_when_the_window_runs_past_the_page() {
        let f = FrameSize::PORTRAIT_1080;
        let a = Cam {
            x: 0.0,
            y: 3000.0,
            zoom: 1.0,
        };
        let (top, h, pad) = camera_region(f, 4000, a, a);
        assert_eq!(top, 3000);
        assert!(h >= 1920 && h % 2 == 0);
        assert_eq!(pad, Some(top + h));
        let (_, _, pad) = camera_region(f, 8000, a, a);
        assert_eq!(pad, None);
    }
}
