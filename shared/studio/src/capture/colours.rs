//! The two dominant colours of a box of a screenshot, from its pixels (what the viewer
//! sees: gradients, images and overlays included, which computed styles do not give).

use reelforge_core::render::Rgb;

/// The most common colour of a (small) PNG and of the most common one clearly
/// different from it; colours are bucketed at 3 bits per channel.
pub fn dominant(png_bytes: &[u8]) -> Result<Vec<Rgb>, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let channels = reader.output_color_type().0.samples();

    // 512 buckets: count and channel sums (for the mean colour of a bucket).
    let mut buckets = vec![[0u64; 4]; 512];
    while let Some(row) = reader.next_row()? {
        for px in row.data().chunks_exact(channels) {
            let (r, g, b) = if channels >= 3 {
                (px[0], px[1], px[2])
            } else {
                (px[0], px[0], px[0])
            };
            let i = (r as usize >> 5) << 6 | (g as usize >> 5) << 3 | b as usize >> 5;
            let bucket = &mut buckets[i];
            bucket[0] += 1;
            bucket[1] += r as u64;
            bucket[2] += g as u64;
            bucket[3] += b as u64;
        }
    }
    let mut ranked: Vec<[u64; 4]> = buckets.into_iter().filter(|b| b[0] > 0).collect();
    ranked.sort_by(|a, b| b[0].cmp(&a[0]));
    let mean = |b: &[u64; 4]| [b[1] / b[0], b[2] / b[0], b[3] / b[0]];
    let mut picked: Vec<[u64; 3]> = Vec::new();
    for b in &ranked {
        let c = mean(b);
        let far = picked.iter().all(|p| {
            let d: u64 = (0..3).map(|i| p[i].abs_diff(c[i]).pow(2)).sum();
            d >= 64 * 64
        });
        if far {
            picked.push(c);
        }
        if picked.len() == 2 {
            break;
        }
    }
    Ok(picked
        .iter()
        .map(|c| Rgb::new(c[0] as u8, c[1] as u8, c[2] as u8))
        .collect())
}
