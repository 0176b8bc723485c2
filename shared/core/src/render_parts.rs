//! A [`RenderPlan`] split into parts that render independently: one clip per scene, the
//! end clip re-encoded like the others, and the soundtrack. Locally ffmpeg renders them
//! one run per core at a time in one process; on AWS each part is one run of the `render-clip`
//! function (docs/video.md, "On AWS"). Both then join the clips by stream copy and mux
//! the soundtrack, so both backends draw exactly the same frames.

use crate::render::{RenderPlan, Shot};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One independently rendered piece of a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "part", content = "index", rename_all = "snake_case")]
pub enum Part {
    /// Scene `i`'s clip (its camera move or card, its captions, the transition from
    /// scene `i - 1`, the watermark), silent.
    Scene(usize),
    /// The end clip, scaled and re-encoded with the scenes' settings, silent.
    EndClip,
    /// The whole soundtrack: voice, ducked music, the end clip's own sound, at −14 LUFS.
    Sound,
}

impl Part {
    /// The part's file name: `scene-007.mp4`, `end.mp4`, `sound.m4a`. Sorting the names
    /// of a plan's video parts sorts them in playing order.
    pub fn file_name(&self) -> String {
        match self {
            Part::Scene(i) => format!("scene-{i:03}.mp4"),
            Part::EndClip => "end.mp4".into(),
            Part::Sound => "sound.m4a".into(),
        }
    }

    /// The part a file name names (the inverse of [`Part::file_name`]).
    pub fn from_file_name(name: &str) -> Option<Part> {
        match name {
            "end.mp4" => Some(Part::EndClip),
            "sound.m4a" => Some(Part::Sound),
            _ => {
                let digits = name.strip_prefix("scene-")?.strip_suffix(".mp4")?;
                (digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| digits.parse().ok().map(Part::Scene))
                    .flatten()
            }
        }
    }
}

impl RenderPlan {
    /// Every part of the plan: the scenes in order, the end clip when there is one, and
    /// the soundtrack last.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts: Vec<Part> = (0..self.scenes.len()).map(Part::Scene).collect();
        if self.end_clip.is_some() {
            parts.push(Part::EndClip);
        }
        parts.push(Part::Sound);
        parts
    }

    /// The video parts in playing order (what the join concatenates).
    pub fn video_parts(&self) -> Vec<Part> {
        self.parts()
            .into_iter()
            .filter(|p| *p != Part::Sound)
            .collect()
    }

    /// Whether `part` belongs to this plan.
    pub fn has_part(&self, part: Part) -> bool {
        match part {
            Part::Scene(i) => i < self.scenes.len(),
            Part::EndClip => self.end_clip.is_some(),
            Part::Sound => true,
        }
    }

    /// The plan's files `part` reads (each once): a scene its page image, the previous
    /// scene's (for the transition) and the watermark; the end clip its file; the
    /// soundtrack the voice, the uploaded music and the end clip (for its sound). A card
    /// reads no file: its background is drawn from the plan's colours.
    pub fn part_inputs(&self, part: Part) -> Vec<&Path> {
        fn add<'a>(p: &'a Path, files: &mut Vec<&'a Path>) {
            if !files.contains(&p) {
                files.push(p);
            }
        }
        let mut files: Vec<&Path> = Vec::new();
        match part {
            Part::Scene(i) => {
                for s in [i.checked_sub(1), Some(i)].into_iter().flatten() {
                    if let Some(Shot::Camera { image, .. }) = self.scenes.get(s).map(|s| &s.shot) {
                        add(image.as_path(), &mut files);
                    }
                }
                if let Some(w) = &self.watermark {
                    add(w.image.as_path(), &mut files);
                }
            }
            Part::EndClip => {
                if let Some(c) = &self.end_clip {
                    add(c.path.as_path(), &mut files);
                }
            }
            Part::Sound => {
                add(self.voiceover.path.as_path(), &mut files);
                if let Some(Some(m)) = self.music.as_ref().map(|m| m.path.as_ref()) {
                    add(m.as_path(), &mut files);
                }
                if let Some(c) = &self.end_clip {
                    add(c.path.as_path(), &mut files);
                }
            }
        }
        files
    }
}

impl RenderPlan {
    /// Replaces every input path that `f` maps (a backend that moves the files: media
    /// keys to local copies); paths `f` returns `None` for stay.
    pub fn map_inputs(&mut self, f: impl Fn(&Path) -> Option<PathBuf>) {
        let mut paths: Vec<&mut PathBuf> = vec![&mut self.voiceover.path];
        for s in &mut self.scenes {
            if let Shot::Camera { image, .. } = &mut s.shot {
                paths.push(image);
            }
        }
        if let Some(w) = &mut self.watermark {
            paths.push(&mut w.image);
        }
        if let Some(c) = &mut self.end_clip {
            paths.push(&mut c.path);
        }
        if let Some(Some(m)) = self.music.as_mut().map(|m| m.path.as_mut()) {
            paths.push(m);
        }
        for p in paths {
            if let Some(new) = f(p) {
                *p = new;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{
        AudioTrack, Cam, Card, CardKind, EndClip, FrameSize, Rgb, Scene, Watermark,
    };
    use std::path::PathBuf;

    fn camera(image: &str) -> Scene {
        let at = Cam {
            x: 0.0,
            y: 0.0,
            zoom: 1.0,
        };
        Scene {
            duration_ms: 1000,
            shot: Shot::Camera {
                image: PathBuf::from(image),
                image_width: 1080,
                image_height: 4000,
                from: at,
                to: at,
                pad: Rgb {
                    r: 255,
                    g: 255,
                    b: 255,
                },
            },
            transition: Default::default(),
            note: String::new(),
        }
    }

    fn plan() -> RenderPlan {
        let card = Scene {
            duration_ms: 1000,
            shot: Shot::Card(Card {
                kind: CardKind::Opening,
                title: "Acme".into(),
                subtitle: String::new(),
                pill: None,
                monogram: None,
                colours: (
                    Rgb { r: 0, g: 0, b: 0 },
                    Rgb {
                        r: 20,
                        g: 20,
                        b: 20,
                    },
                ),
            }),
            transition: Default::default(),
            note: String::new(),
        };
        RenderPlan {
            size: FrameSize {
                width: 1080,
                height: 1920,
            },
            fps: 30,
            scenes: vec![
                card,
                camera("page.png"),
                camera("page.png"),
                camera("ja.png"),
            ],
            voiceover: AudioTrack {
                path: "voice.wav".into(),
                duration_ms: 3000,
            },
            speech: vec![],
            music: None,
            captions: None,
            watermark: Some(Watermark {
                image: "wm.png".into(),
                position: Default::default(),
                width_fraction: 0.2,
            }),
            end_clip: Some(EndClip {
                path: "end.mp4".into(),
            }),
        }
    }

    #[test]
    fn parts_are_the_scenes_the_end_clip_and_the_sound() {
        let p = plan();
        assert_eq!(
            p.parts(),
            vec![
                Part::Scene(0),
                Part::Scene(1),
                Part::Scene(2),
                Part::Scene(3),
                Part::EndClip,
                Part::Sound
            ]
        );
        assert_eq!(p.video_parts().len(), 5);
        assert!(p.has_part(Part::Scene(3)) && !p.has_part(Part::Scene(4)));
        let mut no_end = p.clone();
        no_end.end_clip = None;
        assert!(!no_end.parts().contains(&Part::EndClip));
        assert!(!no_end.has_part(Part::EndClip));
    }

    #[test]
    fn file_names_sort_in_playing_order_and_parse_back() {
        let p = plan();
        let mut names: Vec<String> = p.video_parts().iter().map(Part::file_name).collect();
        let playing = names.clone();
        names.sort();
        // "end.mp4" sorts before "scene-…": the join uses the plan's order, not names.
        assert_ne!(names, playing);
        for part in p.parts() {
            assert_eq!(Part::from_file_name(&part.file_name()), Some(part));
        }
        for bad in ["scene-1.mp4", "scene-abc.mp4", "scene-001.mov", "x.mp4", ""] {
            assert_eq!(Part::from_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_part_reads_only_its_own_files() {
        let p = plan();
        let paths = |part| -> Vec<String> {
            p.part_inputs(part)
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        };
        assert_eq!(paths(Part::Scene(0)), ["wm.png"]);
        assert_eq!(paths(Part::Scene(1)), ["page.png", "wm.png"]);
        assert_eq!(paths(Part::Scene(2)), ["page.png", "wm.png"]);
        assert_eq!(paths(Part::Scene(3)), ["page.png", "ja.png", "wm.png"]);
        assert_eq!(paths(Part::EndClip), ["end.mp4"]);
        assert_eq!(paths(Part::Sound), ["voice.wav", "end.mp4"]);
        // Mapping moves every input, each where it appears, and leaves the rest.
        let mut moved = p.clone();
        moved.map_inputs(|p| (p != Path::new("ja.png")).then(|| Path::new("/tmp").join(p)));
        let all: Vec<String> = moved
            .parts()
            .into_iter()
            .flat_map(|part| moved.part_inputs(part))
            .map(|p| p.display().to_string())
            .collect();
        assert!(all.contains(&"ja.png".to_string()));
        assert!(all.contains(&"/tmp/page.png".to_string()));
        assert!(all.contains(&"/tmp/voice.wav".to_string()));
        assert!(all.contains(&"/tmp/wm.png".to_string()));
        assert!(all.contains(&"/tmp/end.mp4".to_string()));
        // A whole plan goes through JSON unchanged (the AWS render stores its job).
        let back: RenderPlan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let json = serde_json::to_string(&Part::Scene(3)).unwrap();
        assert_eq!(json, r#"{"part":"scene","index":3}"#);
        assert_eq!(
            serde_json::to_string(&Part::Sound).unwrap(),
            r#"{"part":"sound"}"#
        );
    }
}
