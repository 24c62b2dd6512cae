/* The stats page (GET /): one self-contained HTML document, no asset from anywhere, no build
 * step. It holds no data itself; its script polls /status every two seconds and draws every
 * frontend, backend and server. Text from the status (server addresses, check details, which a
 * hostile server can shape) is only ever set as text, never as markup. When the admin API
 * wants a token, the page asks for it once and keeps it for the tab (sessionStorage); it is
 * sent only to this API, in the Authorization header. */
#include "admin/page.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>k3lb</title>\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2329;background:#fafbfc}\n"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\n"
    "#meta{color:#57606a;margin-bottom:1em}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:.6em}\n"
    "th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}\n"
    "th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}\n"
    ".up{background:#d5f5dc}.down{background:#ffd8d3}.drain,.maint{background:#fff1c2}\n"
    ".detail{color:#57606a;font-size:.92em}.bad{color:#b3261e;font-weight:600}\n"
    "#err{color:#b3261e}#login{display:none;margin:1em 0}\n"
    "</style></head><body>\n"
    "<h1>k3lb</h1><div id=\"meta\">loading&hellip;</div><div id=\"err\"></div>\n"
    "<form id=\"login\"><label>Admin token: <input id=\"token\" type=\"password\" "
    "autocomplete=\"off\"></label> <button>Show</button></form>\n"
    "<h2>Frontends</h2><table id=\"fronts\"></table>\n"
    "<div id=\"backs\"></div>\n"
    "<script>\n"
    "'use strict';\n"
    "const $=id=>document.getElementById(id);\n"
    "function el(tag,text,cls){const e=document.createElement(tag);"
    "if(text!==undefined&&text!==null)e.textContent=String(text);if(cls)e.className=cls;return e}\n"
    "function row(cells,head){const tr=el('tr');for(const c of cells){"
    "const td=c instanceof Node?c:el(head?'th':'td',c);tr.appendChild(td)}return tr}\n"
    "function num(v){const td=el('td',v,'n');return td}\n"
    "function bytes(v){const u=['B','KiB','MiB','GiB','TiB'];let i=0;"
    "while(v>=1024&&i<u.length-1){v/=1024;i++}return (i?v.toFixed(1):v)+' '+u[i]}\n"
    "function ago(s){s=Math.round(s);if(s<120)return s+'s';if(s<7200)return "
    "Math.round(s/60)+'m';if(s<172800)return Math.round(s/3600)+'h';return "
    "Math.round(s/86400)+'d'}\n"
    "function fronts(list){const t=$('fronts');t.replaceChildren(row(['name','listen',"
    "'backend','active','total','no server','denied','bad PROXY header','source limited'],"
    "true));\n"
    "for(const f of list){const be=el('td',f.backend===null?'(routes only)':f.backend);\n"
    "if(f.routes){for(const r of f.routes)be.appendChild(el('div',r.sni.join(', ')+' \\u2192 '+"
    "r.backend,'detail'));be.appendChild(el('div',f.unrouted+' to the default, '+f.no_route+"
    "' without a route','detail'))}\n"
    "const sl=f.source_limits;t.appendChild(row([f.name,f.listen.join(', '),be,"
    "num(f.connections_active),num(f.connections_total),num(f.no_server),num(f.denied),"
    "num(f.accept_proxy?f.bad_proxy_header:'-'),num(sl?(sl.limited_conns+sl.limited_rate):'-')]))}}"
    "\n"
    "function check(c){const td=el('td');if(!c){td.textContent='-';return td}\n"
    "td.appendChild(el('span',c.kind+': '+c.result,c.result==='ok'?'':'bad'));"
    "if(c.detail)td.appendChild(el('div',c.detail,'detail'));"
    "if(c.waiting_for)td.appendChild(el('div','down until '+c.waiting_for+' is up',"
    "'detail bad'));\n"
    "if(c.san_warning)td.appendChild(el('div',c.san_warning,'detail bad'));return td}\n"
    "function agent(s,td){if(s.agent)td.appendChild(el('div','agent: '+s.agent.detail,"
    "s.agent.down?'detail bad':'detail'));return td}\n"
    "function backs(list){const d=$('backs');d.replaceChildren();for(const b of list){\n"
    "let title=b.name+' ('+b.balance+(b.role&&b.role!=='generic'?', '+b.role:'')+') '+"
    "b.servers_usable+' of '+b.servers.length+' usable';\n"
    "if(b.requires)title+=' requires '+b.requires.join(', ');\n"
    "if(b.quorum)title+=' quorum '+b.quorum.healthy+'/'+b.quorum.members+"
    "(b.quorum.ok?'':' LOST');\n"
    "if(b.queue)title+=' queue '+b.queue.waiting+'/'+b.queue.max+' waiting ('+b.queue.total+"
    "' waited, '+b.queue.timeouts+' timed out, '+b.queue.full+' refused)';\n"
    "d.appendChild(el('h2',title,b.servers_usable?'':'bad'));const "
    "t=el('table');d.appendChild(t);\n"
    "t.appendChild(row(['server','state','weight','check','last change','active','total',"
    "'in','out','connect failures','retries'],true));\n"
    "for(const s of b.servers){const st=el('td',s.state+(s.backup?' (backup)':''),s.state);\n"
    "const w=s.effective_weight!==s.weight?s.weight+' (now '+s.effective_weight+')':s.weight;\n"
    "t.appendChild(row([s.address,st,num(w),agent(s,check(s.check)),"
    "num(s.check?ago(s.check.since)+' ago':'-'),"
    "num(s.maxconn?s.connections_active+'/'+s.maxconn:s.connections_active),"
    "num(s.connections_total),num(bytes(s.bytes_in)),num(bytes(s.bytes_out)),"
    "num(s.connect_failures),num(s.retries)]))}}}\n"
    "let token=sessionStorage.getItem('k3lb-token')||'';\n"
    "async function poll(){try{const h=token?{Authorization:'Bearer '+token}:{};\n"
    "const r=await fetch('status',{headers:h,cache:'no-store'});\n"
    "if(r.status===401){$('login').style.display='block';$('err').textContent="
    "'This admin API wants a token.';return}\n"
    "if(!r.ok)throw new Error('HTTP '+r.status);const s=await r.json();\n"
    "$('login').style.display='none';$('err').textContent='';\n"
    "$('meta').textContent='version '+s.version+' \\u00b7 pid '+s.pid+' \\u00b7 '+s.workers+"
    "' workers \\u00b7 config '+(s.config||'-')+' \\u00b7 updated '+"
    "new Date().toLocaleTimeString()+(s.announce?' \\u00b7 '+(s.announce.announced?"
    "'announcing ':'not announcing ')+s.announce.addresses.join(', ')+': '+"
    "s.announce.reason:'');\n"
    "fronts(s.frontends);backs(s.backends)}catch(e){$('err').textContent="
    "'No answer from k3lb: '+e.message}}\n"
    "$('login').addEventListener('submit',e=>{e.preventDefault();token=$('token').value;"
    "sessionStorage.setItem('k3lb-token',token);poll()});\n"
    "poll();setInterval(poll,2000);\n"
    "</script></body></html>\n";

void admin_page_reply(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    /* Nothing but itself and this API: no frame, no other origin, no plugin. */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; style-src "
                      "'unsafe-inline'; connect-src 'self'; form-action 'none'; "
                      "frame-ancestors 'none'; base-uri 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evbuffer_add_reference(out, page, sizeof(page) - 1, NULL, NULL);
    evhttp_send_reply(req, 200, NULL, out);
    evbuffer_free(out);
}
