// The API docs page: Swagger UI from the vendored bundle. A file, not an inline script, so the
// pages' Content-Security-Policy needs no 'unsafe-inline'. No validatorUrl: its badge would call
// validator.swagger.io (the archive may have no internet, and should not report its API elsewhere).
(function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: document.currentScript.dataset.openapi, dom_id: "#swagger-ui", layout: "BaseLayout",
    deepLinking: true, showExtensions: true, showCommonExtensions: true, validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
