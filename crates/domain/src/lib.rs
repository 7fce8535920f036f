//! Pure rules of govcloud (政务云服务合同的业务规则).
//!
//! Everything here takes values and returns values: no database, no network, no clock.
//! The server passes "now" in where a rule needs it. Domain types carry no `Serialize`:
//! the HTTP layer and the store convert them explicitly.

pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod money;
pub mod ops;
pub mod payment;
pub mod rating;
pub mod resources;
pub mod role;
pub mod statement;

pub use rust_decimal::Decimal;
