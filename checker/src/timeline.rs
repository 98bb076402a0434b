//! One SVG timeline for histories: a lane per process, each operation a bar from its invocation
//! to its completion, shaded windows (faults) layered beneath, axis ticks. The checker's `--html`
//! page draws it over event order; the chaos report draws it over seconds, with its fault windows.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One operation's bar.
#[derive(Clone, Debug, Default)]
pub struct Bar {
    /// Its lane (index into [`Timeline::lanes`]).
    pub lane: usize,
    /// Where it starts and ends on the x axis, in the timeline's unit.
    pub start: f64,
    /// See `start`.
    pub end: f64,
    /// CSS classes of the bar's group, besides `op`.
    pub classes: String,
    /// Its fill colour, if the page's CSS does not give one.
    pub fill: Option<&'static str>,
    /// What hovering shows.
    pub title: String,
    /// Text drawn on the bar, if any.
    pub label: Option<String>,
    /// An id for scripts (`data-id`).
    pub id: Option<usize>,
}

/// A shaded stretch of the x axis (a fault window).
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Where it starts and ends, in the timeline's unit.
    pub start: f64,
    /// See `start`.
    pub end: f64,
    /// What hovering shows.
    pub title: String,
    /// A short label drawn above the lanes.
    pub label: String,
}

/// Sizes, in pixels.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Room for the lane names.
    pub left: f64,
    /// Room above the lanes (window labels).
    pub top: f64,
    /// One lane.
    pub lane_height: f64,
    /// One bar (less than a lane).
    pub bar_height: f64,
    /// Pixels per unit of the x axis.
    pub scale: f64,
}

/// A timeline to draw.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// Lane names, top to bottom.
    pub lanes: Vec<String>,
    /// The end of the x axis, in its unit.
    pub end: f64,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Shaded windows, drawn beneath the bars.
    pub windows: Vec<Window>,
    /// Axis ticks every `step` units, labelled with the unit (`None`: no axis).
    pub ticks: Option<(f64, &'static str)>,
    /// Sizes.
    pub layout: Layout,
}

impl Timeline {
    /// The x of `value`.
    pub fn x(&self, value: f64) -> f64 {
        self.layout.left + value * self.layout.scale
    }

    /// The whole width, in pixels.
    pub fn width(&self) -> f64 {
        self.x(self.end) + 20.0
    }

    /// The SVG element (`id="timeline"`): windows (`rect.fault`), window labels, ticks, lane
    /// names, then one `g.op` per bar holding its `title`, `rect` and label.
    pub fn svg(&self) -> String {
        let layout = self.layout;
        let axis_room = if self.ticks.is_some() { 24.0 } else { 20.0 };
        let height = layout.top + self.lanes.len() as f64 * layout.lane_height + axis_room;
        let mut svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{:.1}" height="{height:.1}">"#,
            self.width()
        );
        svg.push_str(&shade(&self.windows, |value| self.x(value)));
        for (index, window) in self.windows.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<text class="fault-label" x="{:.1}" y="{}">{}</text>"#,
                self.x(window.start) + 2.0,
                10 + (index % 2) * 10,
                escape(&window.label)
            );
        }
        if let Some((step, unit)) = self.ticks {
            let mut tick = 0.0;
            while tick <= self.end && step > 0.0 {
                let _ = write!(
                    svg,
                    r#"<line class="tick" x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}"/><text class="axis" x="{0:.1}" y="{3:.1}">{tick:.0} {unit}</text>"#,
                    self.x(tick),
                    layout.top - 4.0,
                    height - 18.0,
                    height - 6.0
                );
                tick += step;
            }
        }
        for (lane, name) in self.lanes.iter().enumerate() {
            let y = layout.top + lane as f64 * layout.lane_height + layout.bar_height * 0.75;
            let _ = write!(svg, r#"<text class="lane" x="4" y="{y:.1}">{}</text>"#, escape(name));
        }
        for bar in &self.bars {
            let y = layout.top + bar.lane as f64 * layout.lane_height;
            let x = self.x(bar.start);
            let width = (self.x(bar.end) - x).max(1.0);
            let id = bar.id.map(|id| format!(r#" data-id="{id}""#)).unwrap_or_default();
            let fill = bar.fill.map(|fill| format!(r#" style="fill:{fill}""#)).unwrap_or_default();
            let classes =
                if bar.classes.is_empty() { "op".to_string() } else { format!("op {}", bar.classes) };
            let _ = write!(
                svg,
                r#"<g class="{classes}"{id}><title>{}</title><rect x="{x:.2}" y="{y:.1}" width="{width:.2}" height="{}" rx="2"{fill}/>"#,
                escape(&bar.title),
                layout.bar_height
            );
            if let Some(label) = &bar.label {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                    x + 3.0,
                    y + layout.bar_height * 0.7,
                    escape(label)
                );
            }
            svg.push_str("</g>");
        }
        svg.push_str("</svg>");
        svg
    }
}

/// The windows as shaded rectangles the whole height of their SVG (`rect.fault`), placed by `x`:
/// the timeline's, and any other plot over the same axis (the chaos report's latency plot).
pub fn shade(windows: &[Window], x: impl Fn(f64) -> f64) -> String {
    let mut svg = String::new();
    for window in windows {
        let (x0, x1) = (x(window.start), x(window.end).max(x(window.start) + 2.0));
        let _ = write!(
            svg,
            r#"<rect class="fault" x="{x0:.1}" y="0" width="{:.1}" height="100%"><title>{}</title></rect>"#,
            x1 - x0,
            escape(&window.title)
        );
    }
    svg
}
