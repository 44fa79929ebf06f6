//! What people read: text tables for the terminal, and the HTML report.

pub mod html;
pub mod text;
