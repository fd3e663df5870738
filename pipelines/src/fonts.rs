//! The font for plots is bundled (DejaVu Sans, Bitstream Vera licence) so that plots render
//! the same on every machine without system fonts.

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the bundled font as "sans-serif" (idempotent).
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, DEJAVU_SANS);
    });
}
