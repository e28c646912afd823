<cfscript>
// GET: the cart. POST sku (and op=remove): one more, or one less, of a
// product. The write is merge(): only this SKU changes, so two tabs adding
// different products at once both count (set() would replace the cart), and
// a member set to deleted() deletes that SKU (no engine null support needed).
variables.shop = application.shop;
variables.sess = request.sidecar;
if (cgi.request_method != "POST") {
    writeOutput(variables.shop.page(variables.sess, "Cart", variables.shop.cartHtml(variables.sess.get("cart", {}))));
} else if (variables.shop.isReplaced(variables.sess)) {
    variables.shop.seeOther(variables.sess, "cart.cfm");
} else {
    variables.sku = structKeyExists(form, "sku") ? form.sku : "";
    variables.cart = variables.sess.get("cart", {});
    variables.count = structKeyExists(variables.cart, variables.sku) ? variables.cart[variables.sku] : 0;
    variables.count += (structKeyExists(form, "op") && form.op == "remove") ? -1 : 1;
    if (!structIsEmpty(variables.shop.product(variables.sku))) {
        variables.delta = structNew("ordered");
        variables.delta[variables.sku] = variables.count > 0 ? variables.count : variables.sess.deleted();
        variables.sess.merge("cart", variables.delta);
    }
    variables.shop.seeOther(variables.sess, "cart.cfm");
}
</cfscript>
