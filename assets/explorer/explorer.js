// Ambito's explorer: GraphiQL on this server's /graphql, served from the binary.
// After a `login` mutation it sends that session with every request, so a
// newcomer signs in with one mutation instead of copying a token into headers.
// The token lives in this page's memory only: never in storage or the URL.
// So do the tabs: GraphiQL would keep queries and their variables (a password,
// a pupil's name) in localStorage, on a computer an office may share.
(function () {
  'use strict';
  var endpoint = location.origin + '/graphql';
  var socket = endpoint.replace(/^http/, 'ws');
  var token = null;

  function base() {
    return GraphiQL.createFetcher({
      url: endpoint,
      // Plain JSON answers (Ambito has no @defer), which the login hook reads.
      enableIncrementalDelivery: false,
      subscriptionUrl: socket,
      // Subscriptions authenticate in connection_init, as Ambito asks.
      wsConnectionParams: token ? { authorization: 'Bearer ' + token } : {},
    });
  }
  var inner = base();

  function fetcher(params, options) {
    var headers = Object.assign({}, options && options.headers);
    if (token && !headers.Authorization && !headers.authorization) {
      headers.Authorization = 'Bearer ' + token;
    }
    var result = inner(params, Object.assign({}, options, { headers: headers }));
    if (result && typeof result.then === 'function') {
      return result.then(function (response) {
        var signedIn = response && response.data && response.data.login;
        if (signedIn && typeof signedIn.token === 'string') {
          token = signedIn.token;
          inner = base();
        }
        return response;
      });
    }
    return result;
  }

  var intro = [
    '# Ambito: the GraphQL explorer of this server.',
    '#',
    '# Sign in first: run the mutation below with your e-mail and password',
    '# (on a demo server, an account from demo-accounts.json in its data',
    '# directory). The explorer then sends your session with every request.',
    '# The schema is under the book icon on the left. Run with Ctrl-Enter.',
    '',
    'mutation Login {',
    '  login(email: "", password: "") {',
    '    token',
    '  }',
    '}',
    '',
  ].join('\n');

  var kept = new Map();
  var memory = {
    getItem: function (key) { return kept.has(key) ? kept.get(key) : null; },
    setItem: function (key, value) { kept.set(key, String(value)); },
    removeItem: function (key) { kept.delete(key); },
    clear: function () { kept.clear(); },
    get length() { return kept.size; },
  };

  ReactDOM.createRoot(document.getElementById('explorer')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: intro,
      shouldPersistHeaders: false,
      storage: memory,
    })
  );
})();
