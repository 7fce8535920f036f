//! Working-day arithmetic on the Chinese holiday calendar.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AnyRole, ApiQuery, Auth};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};

#[derive(Deserialize, IntoParams)]
pub struct WorkingDaysQuery {
    /// Start date, YYYY-MM-DD (does not count).
    pub from: String,
    /// Working days to add, 0 to 366.
    pub days: u32,
}

#[derive(Serialize, ToSchema)]
pub struct WorkingDaysDto {
    pub from: String,
    pub days: u32,
    pub date: String,
    /// True when the count runs through a year whose official arrangement is not yet in the data.
    pub provisional: bool,
}

/// The date `days` working days after `from` (法定节假日 and 调休 taken into account).
#[utoipa::path(get, path = "/calendar/working-days", tag = "calendar",
    params(WorkingDaysQuery),
    responses((status = 200, body = WorkingDaysDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn working_days(
    State(state): State<AppState>,
    _caller: Auth<AnyRole>,
    ApiQuery(q): ApiQuery<WorkingDaysQuery>,
) -> ApiResult<Json<WorkingDaysDto>> {
    let from = super::parse_date("from", &q.from)?;
    if q.days > 366 {
        return Err(ApiError::bad_request(
            "invalid_days",
            "工作日数须在 0 到 366 之间",
            "days must be 0 to 366",
        ));
    }
    let w = state.calendar.add_working_days(from, q.days);
    Ok(Json(WorkingDaysDto {
        from: from.to_string(),
        days: q.days,
        date: w.date.to_string(),
        provisional: w.provisional,
    }))
}
