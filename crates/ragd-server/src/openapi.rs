//! The OpenAPI document served at `/openapi.json`, generated from the request and response types.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(info(
    title = "ragd",
    description = "Dify-compatible Knowledge API and External Knowledge API of ragd."
))]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
