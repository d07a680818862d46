// Swagger UI on /api/docs, reading /api/openapi.json. A file of its own: the site's
// Content-Security-Policy runs no inline script.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
