//! Rows of cells laid out to the terminal's width.

use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};

/// One cell: its text and, when colour is on, its colour.
pub(super) type CellText = (String, Option<Color>);

/// Shortens `s` to `width` characters, eliding the middle (names keep
/// their distinctive ends) or the end.
pub fn shorten(s: &str, width: usize, middle: bool) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width <= 1 {
        return "…".chars().take(width).collect();
    }
    if middle {
        let keep = width - 1;
        let head = keep / 2;
        let tail = keep - head;
        let h: String = s.chars().take(head).collect();
        let t: String = s.chars().skip(n - tail).collect();
        format!("{h}…{t}")
    } else {
        let h: String = s.chars().take(width - 1).collect();
        format!("{h}…")
    }
}

/// Lays out a table to fit `width` columns of the terminal: the flexible
/// column (if any) gives up room first, then the rightmost columns go.
pub(super) fn table_lines(
    titles: &[String],
    right: &[bool],
    rows: Vec<Vec<CellText>>,
    width: usize,
    flex: Option<usize>,
    color: bool,
) -> Vec<String> {
    let ncol = titles.len();
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in &rows {
        for (i, (text, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(text.chars().count());
        }
    }
    // Each column takes its width plus one space of padding.
    let total = |w: &[usize]| w.iter().map(|x| x + 1).sum::<usize>();
    if let Some(f) = flex {
        let over = total(&widths).saturating_sub(width);
        widths[f] = widths[f].saturating_sub(over).max(8.min(widths[f]));
    }
    let mut shown = ncol;
    while shown > 1 && total(&widths[..shown]) > width {
        shown -= 1;
    }

    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let header: Vec<Cell> = titles[..shown]
        .iter()
        .zip(&widths)
        .map(|(t, w)| {
            let c = Cell::new(shorten(t, *w, false));
            if color {
                c.add_attribute(comfy_table::Attribute::Bold)
            } else {
                c
            }
        })
        .collect();
    table.set_header(header);
    for row in rows {
        let cells: Vec<Cell> = row
            .into_iter()
            .take(shown)
            .enumerate()
            .map(|(i, (text, fg))| {
                let c = Cell::new(shorten(&text, widths[i], Some(i) == flex));
                match fg {
                    Some(fg) if color => c.fg(fg),
                    _ => c,
                }
            })
            .collect();
        table.add_row(cells);
    }
    for (i, col) in table.column_iter_mut().enumerate() {
        col.set_padding((0, 1));
        if right.get(i).copied().unwrap_or(false) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.lines().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening() {
        assert_eq!(shorten("abcdefghij", 5, true), "ab…ij");
        assert_eq!(shorten("abcdefghij", 5, false), "abcd…");
        assert_eq!(shorten("abc", 5, true), "abc");
    }
}
