/**
 * The demo shop's catalogue, users and page layout (shared by the pages),
 * read from examples/demo/shop.json, the file every demo app reads.
 */
component output="false" {

    /**
     * @catalogue path of shop.json
     */
    public any function init(required string catalogue) {
        variables.shop = deserializeJSON(fileRead(arguments.catalogue, "utf-8"));
        var serverName = createObject("java", "java.lang.System").getenv("DEMO_SERVER_NAME");
        variables.serverName = isNull(serverName) ? "cfml" : serverName;
        return this;
    }

    /**
     * The product of sku, or an empty struct.
     * @sku the product's SKU
     */
    public struct function product(required string sku) {
        for (var item in variables.shop["products"]) {
            if (compare(item["sku"], arguments.sku) == 0) {
                return item;
            }
        }
        return {};
    }

    /**
     * The demo user with this login and password, or an empty struct.
     * @login the user name typed in
     * @password the password typed in
     */
    public struct function findUser(required string login, required string password) {
        for (var user in variables.shop["users"]) {
            if (compare(user["login"], arguments.login) == 0 && compare(user["password"], arguments.password) == 0) {
                return user;
            }
        }
        return {};
    }

    /**
     * Whether the request carries a cookie that a login has just replaced:
     * its writes would get 409, so the page sends the browser back instead.
     * @sess the request's session
     */
    public boolean function isReplaced(required any sess) {
        var claims = arguments.sess.claims();
        return structKeyExists(claims, "replaced") && claims["replaced"] == true;
    }

    /**
     * Sends the session's writes, then a 303 to page (cflocation ends the
     * request before onRequestEnd would flush).
     * @sess the request's session
     * @page where to send the browser
     */
    public void function seeOther(required any sess, required string page) {
        arguments.sess.flush();
        location(url=arguments.page, addToken=false, statusCode=303);
    }

    /**
     * The whole HTML page around main.
     * @sess the request's session
     * @title the page title
     * @main the page's content (HTML)
     */
    public string function page(required any sess, required string title, required string main) {
        var user = arguments.sess.get("user", {});
        var who = '<span id="who">Not logged in</span> &middot; <a id="login-link" href="login.cfm">Log in</a>';
        if (isStruct(user) && structKeyExists(user, "name")) {
            who = '<span id="who">Logged in as <b>' & encodeForHTML(user["name"]) & '</b> ('
                & encodeForHTML(user["login"]) & ')</span> <form class="inline" method="post" action="logout.cfm">'
                & '<button id="logout">Log out</button></form>';
        }
        var items = 0;
        var cart = arguments.sess.get("cart", {});
        for (var sku in cart) {
            items += cart[sku];
        }
        var sid = arguments.sess.sid() == "" ? "none" : arguments.sess.sid();
        return '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>' & encodeForHTML(arguments.title)
            & ' &middot; Sidecar shop</title><style>body{font:16px system-ui,sans-serif;max-width:42em;margin:2em auto}'
            & 'form.inline{display:inline}footer{margin-top:2em;color:##666;font-size:.9em}</style></head><body>'
            & '<header><a href="index.cfm">Sidecar shop</a> &middot; <a id="cart-link" href="cart.cfm">Cart ('
            & items & ')</a> &middot; ' & who & '</header><h1>' & encodeForHTML(arguments.title) & '</h1>'
            & arguments.main & '<footer>Answered by <b id="server">' & encodeForHTML(variables.serverName)
            & '</b> (CFML) &middot; session <code id="sid">' & encodeForHTML(sid) & '</code> &middot; version <span id="ver">'
            & arguments.sess.version() & '</span></footer></body></html>';
    }

    /**
     * The product table, each with an "Add to cart" button.
     */
    public string function productsHtml() {
        var rows = "";
        for (var item in variables.shop["products"]) {
            rows &= '<tr><td>' & encodeForHTML(item["name"]) & '</td><td>' & money(item["price_cents"]) & '</td><td>'
                & '<form method="post" action="cart.cfm"><input type="hidden" name="sku" value="'
                & encodeForHTMLAttribute(item["sku"]) & '"><button id="add-' & encodeForHTMLAttribute(item["sku"])
                & '">Add to cart</button></form></td></tr>';
        }
        return '<table id="products">' & rows & '</table>';
    }

    /**
     * The cart's lines and total.
     * @cart SKU => count
     */
    public string function cartHtml(required struct cart) {
        var rows = "";
        var total = 0;
        for (var sku in arguments.cart) {
            var item = product(sku);
            if (structIsEmpty(item)) {
                continue;
            }
            var count = arguments.cart[sku];
            total += count * item["price_cents"];
            rows &= '<li data-sku="' & encodeForHTMLAttribute(sku) & '" data-count="' & count & '">'
                & encodeForHTML(item["name"]) & ' &times; ' & count
                & ' <form class="inline" method="post" action="cart.cfm"><input type="hidden" name="sku" value="'
                & encodeForHTMLAttribute(sku) & '"><input type="hidden" name="op" value="remove"><button id="remove-'
                & encodeForHTMLAttribute(sku) & '">Remove one</button></form></li>';
        }
        if (rows == "") {
            return '<p id="empty">Your cart is empty.</p>';
        }
        return '<ul id="cart">' & rows & '</ul><p>Total: <span id="total">' & money(total) & '</span></p>';
    }

    /**
     * The login form, with an error line when error is not "".
     * @error the error to show
     */
    public string function loginHtml(required string error) {
        var html = "";
        if (arguments.error != "") {
            html = '<p id="error">' & encodeForHTML(arguments.error) & '</p>';
        }
        return html & '<form id="login" method="post" action="login.cfm">'
            & '<p><label>User <input name="user" autocomplete="username"></label></p>'
            & '<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>'
            & '<p><button id="login-button">Log in</button></p></form>'
            & '<p>Demo users: alice / wonderland, bob / builder, zo&euml; / br&ucirc;l&eacute;e.</p>';
    }

    /**
     * A price: the currency and two decimals.
     * @cents the amount in cents
     */
    private string function money(required numeric cents) {
        return encodeForHTML(variables.shop["currency"]) & numberFormat(arguments.cents / 100, "0.00");
    }
}
