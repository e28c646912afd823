<cfscript>
// The product list (the PHP demo's "/").
writeOutput(application.shop.page(request.sidecar, "Products", application.shop.productsHtml()));
</cfscript>
