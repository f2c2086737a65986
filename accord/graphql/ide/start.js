// Starts GraphiQL against this server's /graphql. A #query=… fragment fills the editor, so a
// link can carry a ready query (a ?query= parameter would run it: GET /graphql executes);
// request headers (a bearer token) go in the Headers tab.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.hash.slice(1));
  var endpoint = new URL("/graphql", window.location.href).toString();
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var props = {
    fetcher: fetcher,
    headerEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultQuery: "{ tenants { slug legalName store region status } }\n",
  };
  if (params.has("query")) {
    props.query = params.get("query");
  }
  if (params.has("variables")) {
    props.variables = params.get("variables");
  }
  ReactDOM.render(
    React.createElement(GraphiQL, props),
    document.getElementById("graphiql")
  );
})();
