<cfscript>
// GET: the cart. POST sku (and op=remove): one more, or one less, of a
// product. The write is a merge patch of one SKU: Sidecar merges it into the
// stored cart, and a null member deletes that SKU.
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
        variables.patch = structNew("ordered");
        if (variables.count > 0) {
            variables.patch[variables.sku] = variables.count;
        } else {
            variables.patch[variables.sku] = javaCast("null", ""); // JSON null: delete the SKU (Application.cfc turns on null support)
        }
        variables.sess.set("cart", variables.patch);
    }
    variables.shop.seeOther(variables.sess, "cart.cfm");
}
</cfscript>
