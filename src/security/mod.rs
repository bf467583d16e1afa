#[cfg(test)]
mod eval;
pub mod generated;
