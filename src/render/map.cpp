#include "render/map.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numbers>
#include <numeric>

#include "render/leaflet.h"
#include "render/report.h"
#include "util/escape.h"
#include "util/text.h"

namespace binscan {
namespace {

// Vector styles by class (Leaflet's own colour attributes lose to CSS), the plain background
// the map keeps when no tile loads, and the page around the map.
constexpr const char* kStyle = R"css(
#map{height:70vh;min-height:360px;border:1px solid #ddd;border-radius:6px;margin:6px 0}
.leaflet-container{background:#fbfbf8}
#map path.view{fill:#1f6fd0;fill-opacity:.08;stroke:none}
#map path.ray{stroke:#1f6fd0;stroke-opacity:.6;stroke-width:1.2;fill:none}
#map path.ray.hi,#map path.ray.focus{stroke:#0b3d91;stroke-opacity:1;stroke-width:3.5}
#map path.view.focus{fill-opacity:.22}
#map path.camera{fill:#1f6fd0;fill-opacity:1;stroke:#fff;stroke-width:1}
#map path.nobin{fill:#8a8a8a;fill-opacity:.9;stroke:none}
#map path.spread{fill:#2a9d3a;fill-opacity:.14;stroke:#1d7a2b;stroke-width:1}
#map path.spread.projected{fill:#d08700;stroke:#a86c00}#map path.spread.camera{fill:#999;stroke:#666}
#map path.regmatch{stroke:#6b3fa0;stroke-width:1.5;stroke-dasharray:3 3;fill:none}
#map path.extra{fill:none;stroke:#d1242f;stroke-width:2;stroke-dasharray:4 3}
#map path.reg.outside{fill:#fff;fill-opacity:1;stroke:#6b3fa0;stroke-width:1.5}
.binicon{box-sizing:border-box;border-radius:50%;background:#237a32;border:2px solid #fff;color:#fff;font:600 11px/20px system-ui,sans-serif;text-align:center;box-shadow:0 0 0 1px #1d5a27}
.binicon.projected{background:#f0a020;color:#111;box-shadow:0 0 0 1px #a86c00}
.binicon.camera{background:#6b6b6b;box-shadow:0 0 0 1px #444}
.binicon.hi,.binicon:focus{outline:3px solid #0b3d91;outline-offset:1px}
.regicon{box-sizing:border-box;background:#fff;border:2px solid #6b3fa0}
.regicon.matched{background:#b9a3d6}.regicon.missed{background:#d1242f;border-color:#8c1019}
.regicon:focus{outline:3px solid #0b3d91}
.leaflet-control-layers-toggle{background-image:url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 26 26'%3E%3Cpath d='M13 3 2 9l11 6 11-6zM2 13l11 6 11-6M2 17l11 6 11-6' fill='none' stroke='%23333' stroke-width='2'/%3E%3C/svg%3E");background-size:26px 26px}
.fit button{display:block;width:100%;border:0;border-bottom:1px solid #ccc;background:#fff;padding:4px 8px;font:12px system-ui,sans-serif;text-align:left;cursor:pointer}
.fit button:last-child{border-bottom:0}.fit button:hover,.fit button:focus{background:#eef4fc}
.tilestate{background:rgba(255,255,255,.85);padding:0 5px;font-size:11px;color:#333}
.pop h3{margin:0 0 4px;font-size:14px}.pop p{margin:2px 0}
.pop ul{list-style:none;margin:6px 0 0;padding:0;max-height:300px;overflow:auto}
.pop li{display:flex;gap:6px;margin:4px 0;align-items:flex-start}
.pop img{max-width:96px;max-height:96px;border-radius:3px}
.path{font-family:ui-monospace,monospace;font-size:11px;word-break:break-all}
.legend{font-size:12px;color:#444;margin:6px 0}.legend span{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px;vertical-align:middle}
.legend span.sq{border-radius:0}.legend span.ring{border:2px dashed #d1242f;box-sizing:border-box}
tr.hi{background:#eef8ef}tr.missed td{color:#8c1019}
.thumbs{display:flex;flex-wrap:wrap;gap:4px}
.thumbs img{display:block;max-width:120px;max-height:120px;border-radius:3px}
.thumbs .none{font-family:ui-monospace,monospace;font-size:11px;color:#666;word-break:break-all;max-width:160px}
)css";

// The map, drawn from the data object D (see map_data). Every text from the data goes in through
// textContent or an attribute, never as HTML. Script errors are shown on the page; the body's
// data-ready / data-rendered-bins / data-tiles attributes tell tests how far it got.
constexpr const char* kScript = R"js(
var errors=document.getElementById('errors');
window.addEventListener('error',function(ev){if(errors){var d=document.createElement('div');d.textContent='script error: '+ev.message;errors.appendChild(d);}});
var body=document.body, box=document.getElementById('map');
function each(sel,f){Array.prototype.forEach.call(document.querySelectorAll(sel),f);}
var binLayers={}; // bin id -> {marker, rays: [path layers]}
function mark(id,on){
  each('[data-bin="'+id+'"]',function(el){el.classList.toggle('hi',on);});
  var b=binLayers[id];
  if(b)b.rays.forEach(function(r){var el=r.getElement&&r.getElement();if(el)el.classList.toggle('hi',on);});
}
each('tr[data-bin]',function(tr){
  var id=tr.getAttribute('data-bin');
  tr.addEventListener('mouseenter',function(){mark(id,true);});
  tr.addEventListener('mouseleave',function(){mark(id,false);});
});
if(!box||!window.L){body.setAttribute('data-rendered-bins','0');body.setAttribute('data-ready','1');return;}

var R=6371008.8, rad=Math.PI/180;
function ahead(p,bearing,m){ // at street scale a plane is exact enough
  var b=bearing*rad, c=Math.max(Math.cos(p[0]*rad),1e-6);
  return [p[0]+m*Math.cos(b)/R/rad, p[1]+m*Math.sin(b)/(R*c)/rad];
}
function wedge(s){
  var pts=[[s.lat,s.lon]], n=8;
  for(var k=0;k<=n;k++)pts.push(ahead([s.lat,s.lon],s.bearing-s.fov/2+s.fov*k/n,D.reach_m));
  return pts;
}
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;}
function fixed(v,d){return Number(v).toFixed(d);}
function box2(b){return L.latLngBounds(b[0],b[1]);}
function keyOpens(m){ // Enter or Space on a focused marker opens its popup, as a click does
  m.getElement().addEventListener('keydown',function(ev){
    if(ev.key==='Enter'||ev.key===' '){ev.preventDefault();m.openPopup();}
  });
}

var map=L.map(box,{maxZoom:21,zoomSnap:0.5,keyboard:true});
map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
L.control.scale({imperial:false,maxWidth:160}).addTo(map);

// The base map: OpenStreetMap when it loads; otherwise the plain background stays, and says so.
var tiles=null, state=L.control({position:'bottomleft'}), stateBox;
state.onAdd=function(){stateBox=el('div','tilestate');stateBox.setAttribute('role','status');return stateBox;};
state.addTo(map);
function tileState(s,text){body.setAttribute('data-tiles',s);stateBox.textContent=text;}
if(D.tiles&&navigator.onLine!==false){
  var loaded=0;
  tiles=L.tileLayer(D.tiles,{maxZoom:21,maxNativeZoom:19,
    attribution:'&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'});
  tiles.on('tileload',function(){if(!loaded++)tileState('loaded','');});
  tiles.on('tileerror',function(){if(!loaded)tileState('failed','Base map unavailable (offline?): plain background');});
  tiles.addTo(map);
  tileState('loading','');
}else{
  tileState('none',D.tiles?'Offline: plain background':'No base map');
}

var layers={
  nobin:L.featureGroup(), views:L.featureGroup(), rays:L.featureGroup(),
  cameras:L.featureGroup(), bins:L.featureGroup()
};
D.nobin.forEach(function(p){L.circleMarker(p,{radius:2.5,className:'nobin',interactive:false}).addTo(layers.nobin);});

function shotLine(s,li){ // one photo of a bin, in its popup
  var thumb=document.querySelector('img[data-sighting="'+s.index+'"]');
  if(thumb){var t=thumb.cloneNode();t.alt='photo '+s.path;li.appendChild(t);}
  var d=el('div');
  d.appendChild(el('div','path',s.path));
  var facts=[];
  if(s.bearing!==null)facts.push('bearing '+fixed(s.bearing,0)+'\u00b0 true'+(s.ref==='M'?' (magnetic '+fixed(s.bearing_exif,0)+'\u00b0)':''));
  else facts.push('no bearing');
  if(s.aim!==null)facts.push('aimed '+(s.aim>=0?'+':'')+fixed(s.aim,1)+'\u00b0');
  facts.push('bin score '+fixed(s.score,3));
  if(s.found_by.length)facts.push('found by '+s.found_by.join(', '));
  d.appendChild(el('div','',facts.join(' \u00b7 ')));
  li.appendChild(d);
}
var focus=L.featureGroup().addTo(map);
function popupFor(b){
  var p=el('div','pop');p.setAttribute('data-bin',String(b.id));
  p.appendChild(el('h3','','Bin '+b.id));
  p.appendChild(el('p','',b.method+' \u00b7 \u00b1'+fixed(b.spread_m,0)+' m \u00b7 best bin score '+fixed(b.best_score,3)));
  var a=el('a','',fixed(b.lat,6)+', '+fixed(b.lon,6));
  a.href='https://www.openstreetmap.org/?mlat='+fixed(b.lat,6)+'&mlon='+fixed(b.lon,6)+'#map=19/'+fixed(b.lat,6)+'/'+fixed(b.lon,6);
  var q=el('p');q.appendChild(a);p.appendChild(q);
  if(b.registry)p.appendChild(el('p','','registry bin '+b.registry.id+', '+fixed(b.registry.distance_m,1)+' m away'));
  else if(D.registry)p.appendChild(el('p','','not in the registry'));
  p.appendChild(el('p','',b.sightings.length+(b.sightings.length===1?' photo:':' photos:')));
  var ul=el('ul');
  b.sightings.forEach(function(i){var li=el('li');shotLine(D.sightings[i],li);ul.appendChild(li);});
  p.appendChild(ul);
  return p;
}
function showFocus(b){ // the bin's photos: their views and sight lines, drawn over the layers
  focus.clearLayers();
  b.sightings.forEach(function(i){
    var s=D.sightings[i];
    if(s.bearing!==null)L.polygon(wedge(s),{className:'view focus',interactive:false}).addTo(focus);
    L.polyline([[s.lat,s.lon],[b.lat,b.lon]],{className:'ray focus',interactive:false}).addTo(focus);
    L.circleMarker([s.lat,s.lon],{radius:5,className:'camera',interactive:false}).addTo(focus);
  });
}

D.sightings.forEach(function(s,i){s.index=i;});
D.bins.forEach(function(b){
  var entry=binLayers[b.id]={rays:[]};
  b.sightings.forEach(function(i){
    var s=D.sightings[i];
    if(s.bearing!==null)L.polygon(wedge(s),{className:'view',interactive:false}).addTo(layers.views);
    entry.rays.push(L.polyline([[s.lat,s.lon],[b.lat,b.lon]],{className:'ray',interactive:false}).addTo(layers.rays));
    var cam=L.circleMarker([s.lat,s.lon],{radius:4,className:'camera'}).addTo(layers.cameras);
    var tip=el('div');tip.appendChild(el('div','path',s.path));
    tip.appendChild(el('div','',(s.bearing!==null?'bearing '+fixed(s.bearing,0)+'\u00b0 \u00b7 ':'')+'bin '+b.id+' \u00b7 bin score '+fixed(s.score,3)));
    cam.bindTooltip(tip);
    cam.on('click',function(){entry.marker.openPopup();});
  });
  L.circle([b.lat,b.lon],{radius:Math.max(b.spread_m,0.5),className:'spread '+b.method,interactive:false}).addTo(layers.bins);
  var title='bin '+b.id+' ('+b.method+', \u00b1'+fixed(b.spread_m,0)+' m, '+b.sightings.length+(b.sightings.length===1?' photo)':' photos)');
  var m=entry.marker=L.marker([b.lat,b.lon],{
    icon:L.divIcon({className:'binicon '+b.method,html:String(b.id),iconSize:[24,24]}),
    title:title,keyboard:true,riseOnHover:true});
  m.on('add',function(){
    var e=m.getElement();e.setAttribute('data-bin',String(b.id));e.setAttribute('role','button');
    e.setAttribute('aria-label',title+': show its photos');
    e.addEventListener('mouseenter',function(){mark(b.id,true);});
    e.addEventListener('mouseleave',function(){mark(b.id,false);});
    keyOpens(m);
  });
  m.bindPopup(function(){return popupFor(b);},{maxWidth:380,minWidth:220,autoPanPadding:[30,30]});
  m.on('popupopen',function(){showFocus(b);mark(b.id,true);});
  m.on('popupclose',function(){focus.clearLayers();mark(b.id,false);});
  m.addTo(layers.bins);
});

var overlays={};
if(tiles)overlays['OpenStreetMap base map']=tiles;
overlays['Located bins']=layers.bins;
overlays['Sight lines']=layers.rays;
overlays['Views of the photos with a bin']=layers.views;
overlays['Photos with a bin']=layers.cameras;
overlays['Photos without a bin']=layers.nobin;
var hidden=[];
if(D.registry){
  var reg={matched:L.featureGroup(),missed:L.featureGroup(),outside:L.featureGroup(),extra:L.featureGroup()};
  D.registry.forEach(function(r){
    var text='registry bin '+r.id+': '+(r.status==='matched'?'matched to bin '+r.bin+', '+fixed(r.distance_m,1)+' m'
      :r.status==='missed'?'missed: in a photo\u2019s view, not found':'not covered by the photos');
    if(r.status==='outside'){
      L.circleMarker([r.lat,r.lon],{radius:3,className:'reg outside'}).bindTooltip(el('div','',text)).addTo(reg.outside);
      return;
    }
    var size=r.status==='missed'?14:10;
    var rm=L.marker([r.lat,r.lon],{icon:L.divIcon({className:'regicon '+r.status,iconSize:[size,size]}),
      title:text,keyboard:true,zIndexOffset:-500}); // under the located bins, which stay clickable
    rm.on('add',function(){var e=rm.getElement();e.setAttribute('role','button');e.setAttribute('aria-label',text);keyOpens(rm);});
    rm.bindPopup(el('div','pop',text)).addTo(reg[r.status]);
    if(r.status==='matched'){
      var b=D.bins.filter(function(x){return x.id===r.bin;})[0];
      if(b)L.polyline([[r.lat,r.lon],[b.lat,b.lon]],{className:'regmatch',interactive:false}).addTo(reg.matched);
    }
  });
  D.bins.forEach(function(b){
    if(!b.registry)L.circleMarker([b.lat,b.lon],{radius:17,className:'extra',interactive:false}).addTo(reg.extra);
  });
  overlays['Registry: matched']=reg.matched;
  overlays['Registry: missed (in view, not found)']=reg.missed;
  overlays['Located bins not in the registry']=reg.extra;
  overlays['Registry: not covered by the photos']=reg.outside;
  hidden.push(reg.outside); // may be the whole city: shown on request
}
Object.keys(overlays).forEach(function(k){if(hidden.indexOf(overlays[k])<0)overlays[k].addTo(map);});
L.control.layers(null,overlays,{collapsed:window.innerWidth<700}).addTo(map);

// The view: where most photos are; buttons for all of them and for each other area.
function compass(from,to){
  var dy=to.lat-from.lat, dx=(to.lng-from.lng)*Math.cos(from.lat*rad);
  return ['N','NE','E','SE','S','SW','W','NW'][Math.round((Math.atan2(dx,dy)/rad+360)%360/45)%8];
}
function km(m){return m<1000?fixed(m,0)+' m':fixed(m/1000,1)+' km';}
var main=D.areas.length?box2(D.areas[0].box):null;
function fitMain(){map.fitBounds(main,{maxZoom:19,animate:false});}
if(main)fitMain();else map.setView([0,0],2);
var Fit=L.Control.extend({options:{position:'topleft'},onAdd:function(){
  var div=el('div','leaflet-bar fit');
  function button(cls,text,label,f){var b=el('button',cls,text);b.type='button';b.title=label;b.setAttribute('aria-label',label);b.addEventListener('click',f);div.appendChild(b);}
  button('fit-main','Main area','Fit the view to where most photos are ('+D.areas[0].photos+')',fitMain);
  if(D.areas.length>1){
    button('fit-all','All photos','Fit the view to every photo',function(){map.fitBounds(box2(D.all),{maxZoom:19,animate:false});});
    D.areas.slice(1,7).forEach(function(a){
      var bb=box2(a.box), c=main.getCenter(), to=bb.getCenter();
      var text=a.photos+(a.photos===1?' photo, ':' photos, ')+km(c.distanceTo(to))+' '+compass(c,to);
      button('fit-area',text,'Show the area with '+text+' from the main area',function(){map.fitBounds(bb,{maxZoom:19,animate:false});});
    });
  }
  L.DomEvent.disableClickPropagation(div);L.DomEvent.disableScrollPropagation(div);
  return div;
}});
if(main)new Fit().addTo(map);

// The table's bin numbers open the bin on the map.
each('a.showbin',function(a){
  a.addEventListener('click',function(ev){
    var b=binLayers[a.getAttribute('data-bin')];if(!b)return;
    ev.preventDefault();box.scrollIntoView();
    map.setView(b.marker.getLatLng(),Math.max(map.getZoom(),18),{animate:false});b.marker.openPopup();
  });
});
window.binscanMap={map:map,layers:layers,bins:binLayers,overlays:overlays}; // for tests
body.setAttribute('data-rendered-bins',String(document.querySelectorAll('#map .binicon').length));
body.setAttribute('data-ready','1');
)js";

constexpr double kDegToRad = std::numbers::pi / 180.0;
constexpr double kMetresPerDegree = kEarthRadiusM * kDegToRad;

std::string num(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Degrees to 1e-7 (about a centimetre): what a map needs, in a third of the digits.
double deg7(double v) { return std::round(v * 1e7) / 1e7; }
nlohmann::ordered_json point(LatLon p) { return {deg7(p.lat), deg7(p.lon)}; }
nlohmann::ordered_json box_json(LatLon sw, LatLon ne) { return {point(sw), point(ne)}; }

// Union-find over grid cells, for map_areas.
struct Cells {
  std::vector<int> parent;
  int find(int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void unite(int a, int b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

struct Box {
  LatLon sw{1e300, 1e300}, ne{-1e300, -1e300};
  void extend(LatLon p) {
    sw = {std::min(sw.lat, p.lat), std::min(sw.lon, p.lon)};
    ne = {std::max(ne.lat, p.lat), std::max(ne.lon, p.lon)};
  }
  // Grown by `m` metres on every side.
  void grow(double m) {
    const double dlat = m / kMetresPerDegree;
    const double c =
        std::max(std::cos(std::clamp((sw.lat + ne.lat) / 2, -89.0, 89.0) * kDegToRad), 1e-6);
    const double dlon = dlat / c;
    sw = {std::max(sw.lat - dlat, -90.0), sw.lon - dlon};
    ne = {std::min(ne.lat + dlat, 90.0), ne.lon + dlon};
  }
};

double reach_m(const Located& l) { return l.options.distance_m * 1.25; }  // a view's drawn depth

// Which registry bins the map shows by default (matched or in view): the rest, perhaps the whole
// city, sit in a layer that starts hidden and do not stretch "all photos".
bool registry_in_view(const RegistryCheck& r, std::size_t k) {
  return r.covered[k] || r.matched_bin[k] >= 0;
}

nlohmann::ordered_json map_data(const Located& l, const MapOptions& o,
                                const std::vector<MapArea>& areas) {
  using J = nlohmann::ordered_json;
  J d;
  d["tiles"] = o.tile_url.empty() ? J(nullptr) : J(o.tile_url);
  d["reach_m"] = reach_m(l);
  J a = J::array();
  Box all;
  for (const auto& area : areas) {
    a.push_back({{"box", box_json(area.south_west, area.north_east)}, {"photos", area.photos}});
    all.extend(area.south_west);
    all.extend(area.north_east);
  }
  d["areas"] = std::move(a);
  if (l.registry) {
    for (std::size_t k = 0; k < l.registry->bins.size(); ++k) {
      if (registry_in_view(*l.registry, k)) all.extend(l.registry->bins[k].position);
    }
  }
  d["all"] = areas.empty() ? J(nullptr) : box_json(all.sw, all.ne);
  J nobin = J::array();
  for (const auto& p : l.no_bin) nobin.push_back(point(p));
  d["nobin"] = std::move(nobin);
  J shots = J::array();
  for (const auto& s : l.sightings) {
    shots.push_back({{"path", s.photo.path},
                     {"lat", deg7(s.camera.lat)},
                     {"lon", deg7(s.camera.lon)},
                     {"bearing", s.bearing_true ? J(*s.bearing_true) : J(nullptr)},
                     {"bearing_exif", s.photo.bearing ? J(*s.photo.bearing) : J(nullptr)},
                     {"ref", s.photo.bearing_ref ? J(*s.photo.bearing_ref) : J(nullptr)},
                     {"fov", s.fov_deg},
                     {"aim", s.aim_deg ? J(*s.aim_deg) : J(nullptr)},
                     {"score", s.bin_score},
                     {"found_by", s.found_by},
                     {"bin", l.bins[static_cast<std::size_t>(s.bin)].id}});
  }
  d["sightings"] = std::move(shots);
  J bins = J::array();
  for (std::size_t i = 0; i < l.bins.size(); ++i) {
    const auto& b = l.bins[i];
    J reg = nullptr;
    if (l.registry && l.registry->registry_of_bin[i] >= 0) {
      const auto k = static_cast<std::size_t>(l.registry->registry_of_bin[i]);
      reg = {{"id", l.registry->bins[k].id}, {"distance_m", l.registry->match_distance_m[k]}};
    }
    bins.push_back({{"id", b.id},
                    {"lat", deg7(b.position.lat)},
                    {"lon", deg7(b.position.lon)},
                    {"method", method_name(b.method)},
                    {"spread_m", b.spread_m},
                    {"best_score", b.best_score},
                    {"sightings", b.sightings},
                    {"registry", std::move(reg)}});
  }
  d["bins"] = std::move(bins);
  if (l.registry) {
    const RegistryCheck& r = *l.registry;
    J reg = J::array();
    for (std::size_t k = 0; k < r.bins.size(); ++k) {
      const int b = r.matched_bin[k];
      reg.push_back({{"id", r.bins[k].id},
                     {"lat", deg7(r.bins[k].position.lat)},
                     {"lon", deg7(r.bins[k].position.lon)},
                     {"status", b >= 0 ? "matched" : (r.covered[k] ? "missed" : "outside")},
                     {"bin", b >= 0 ? J(l.bins[static_cast<std::size_t>(b)].id) : J(nullptr)},
                     {"distance_m", b >= 0 ? J(r.match_distance_m[k]) : J(nullptr)}});
    }
    d["registry"] = std::move(reg);
  } else {
    d["registry"] = nullptr;
  }
  return d;
}

}  // namespace

std::vector<MapArea> map_areas(const Located& l) {
  // Every photo with a position; a photo with a bin brings its bin into its area's box.
  struct Photo {
    LatLon at;
    const LatLon* bin = nullptr;
  };
  std::vector<Photo> photos;
  for (const auto& s : l.sightings) {
    photos.push_back({s.camera, &l.bins[static_cast<std::size_t>(s.bin)].position});
  }
  for (const auto& p : l.no_bin) photos.push_back({p, nullptr});
  if (photos.empty()) return {};

  // Photos fall into square cells kAreaLinkM wide (in a plane about the first photo); cells that
  // touch, diagonals included, are one area. Linear in the photos, whatever their number.
  const LatLon origin = photos.front().at;
  const double cos_lat = std::max(std::cos(std::clamp(origin.lat, -89.0, 89.0) * kDegToRad), 1e-6);
  std::map<std::pair<long long, long long>, int> cell_of;
  std::vector<int> photo_cell;
  for (const auto& p : photos) {
    const auto cell =
        std::pair{static_cast<long long>(std::floor((p.at.lon - origin.lon) * kMetresPerDegree *
                                                    cos_lat / kAreaLinkM)),
                  static_cast<long long>(
                      std::floor((p.at.lat - origin.lat) * kMetresPerDegree / kAreaLinkM))};
    const auto [it, added] = cell_of.try_emplace(cell, static_cast<int>(cell_of.size()));
    photo_cell.push_back(it->second);
  }
  Cells cells;
  cells.parent.resize(cell_of.size());
  std::iota(cells.parent.begin(), cells.parent.end(), 0);
  for (const auto& [cell, index] : cell_of) {
    for (long long dx = -1; dx <= 1; ++dx) {
      for (long long dy = -1; dy <= 1; ++dy) {
        const auto near = cell_of.find({cell.first + dx, cell.second + dy});
        if (near != cell_of.end()) cells.unite(index, near->second);
      }
    }
  }

  // Areas in order of their first photo, then the most photos first (stable: ties keep it).
  std::map<int, std::size_t> area_of_root;
  std::vector<Box> boxes;
  std::vector<MapArea> areas;
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const int root = cells.find(photo_cell[i]);
    const auto [it, added] = area_of_root.try_emplace(root, areas.size());
    if (added) {
      areas.emplace_back();
      boxes.emplace_back();
    }
    ++areas[it->second].photos;
    boxes[it->second].extend(photos[i].at);
    if (photos[i].bin) boxes[it->second].extend(*photos[i].bin);
  }
  for (std::size_t a = 0; a < areas.size(); ++a) {
    boxes[a].grow(reach_m(l));
    areas[a].south_west = boxes[a].sw;
    areas[a].north_east = boxes[a].ne;
  }
  std::stable_sort(areas.begin(), areas.end(),
                   [](const MapArea& a, const MapArea& b) { return a.photos > b.photos; });
  return areas;
}

std::string render_map_html(const Located& l, const MapOptions& options) {
  const bool drawn = !l.sightings.empty() || !l.no_bin.empty();
  std::string h =
      page_start(options.title, drawn ? std::string(leaflet_css()) + kStyle : std::string(kStyle),
                 options.database);
  std::string models;
  for (const auto& m : l.models) models += (models.empty() ? "" : ", ") + m.display();
  h += "models " + html_escape(models) + " &middot; " + std::to_string(l.positives) +
       " photos with a bin &middot; <span id=\"bin-count\" data-count=\"" +
       std::to_string(l.bins.size()) + "\">" + std::to_string(l.bins.size()) +
       "</span> bins located</div>\n<div id=\"errors\"></div>\n";
  const auto key = [](const char* colour, const std::string& label, bool square = false) {
    return "<span" + std::string(square ? " class=\"sq\"" : "") + " style=\"background:" + colour +
           "\"></span>" + label;
  };
  h += "<div class=\"legend\">" + key("#1f6fd0", "photo with a bin, its view and sight line") +
       key("#8a8a8a", "photo without a bin") + key("#237a32", "bin where views cross") +
       key("#f0a020", "bin " + num(l.options.distance_m, 0) + " m ahead of one view") +
       key("#6b6b6b", "bin at a photo without bearing") +
       (l.registry ? key("#b9a3d6", "registry bin (matched)", true) +
                         key("#d1242f", "registry bin in view, not found", true) +
                         "<span class=\"ring\"></span>located bin not in the registry"
                   : std::string()) +
       "</div>\n";
  if (drawn) {
    h += "<div id=\"map\" role=\"region\" aria-label=\"Map of the photos and the located bins: "
         "drag or use the arrow keys to pan, + and - to zoom; Tab reaches each bin, Enter shows "
         "its photos\"></div>\n";
  } else {
    h += "<p id=\"nomap\">No photo has a GPS position.</p>\n";
  }

  h += "<h2>Bins</h2>\n<table id=\"bins\"><thead><tr><th>bin</th><th>position</th><th>method</th>"
       "<th>&plusmn; m</th><th>photos</th><th>best bin score</th><th>seen in</th></tr></thead>"
       "<tbody>\n";
  for (const auto& b : l.bins) {
    const std::string id = std::to_string(b.id);
    const std::string lat = num(b.position.lat, 6), lon = num(b.position.lon, 6);
    h += "<tr data-bin=\"" + id + "\"><td><a class=\"showbin\" href=\"#map\" data-bin=\"" + id +
         "\" title=\"show bin " + id + " on the map\">" + id +
         "</a></td><td><a href=\"https://www.openstreetmap.org/?mlat=" + lat + "&amp;mlon=" + lon +
         "#map=19/" + lat + "/" + lon + "\">" + lat + ", " + lon + "</a></td><td>" +
         std::string(method_name(b.method)) + "</td><td>" + num(b.spread_m, 0) + "</td><td>" +
         std::to_string(b.sightings.size()) + "</td><td>" + num(b.best_score, 3) +
         "</td><td><div class=\"thumbs\">";
    for (const auto i : b.sightings) {
      const auto& p = l.sightings[i].photo;
      const auto jpeg = options.thumbnail ? options.thumbnail(p) : std::nullopt;
      if (jpeg) {
        // The map's popups show this same picture (data-sighting), so it is embedded once.
        h += "<img alt=\"\" data-sighting=\"" + std::to_string(i) + "\" title=\"" +
             html_escape(p.path) + "\" src=\"data:image/jpeg;base64," + base64_encode(*jpeg) +
             "\">";
      } else {
        h += "<div class=\"none\">" + html_escape(p.path) + "</div>";
      }
    }
    h += "</div></td></tr>\n";
  }
  h += "</tbody></table>\n";
  if (l.registry) {
    const RegistryCheck& r = *l.registry;
    const auto pct = [](const std::optional<double>& v) {
      return v ? num(100 * *v, 0) + "%" : std::string("n/a");
    };
    h += "<h2>Registry</h2>\n<p id=\"registry-summary\" data-matches=\"" +
         std::to_string(r.matches) + "\" data-missed=\"" + std::to_string(r.missed) + "\">" +
         std::to_string(r.bins.size()) + " registry bins: " + std::to_string(r.matches) +
         " matched within " + num(r.match_radius_m, 0) + " m, " + std::to_string(r.missed) +
         " missed, " + std::to_string(r.outside) + " not covered by the photos; " +
         std::to_string(r.unregistered) + " located bins not in the registry. Precision " +
         pct(r.precision) + ", recall " + pct(r.recall) + ".</p>\n";
    h += "<table id=\"registry\"><thead><tr><th>registry bin</th><th>position</th><th>status</th>"
         "<th>located bin</th><th>distance m</th></tr></thead><tbody>\n";
    for (std::size_t k = 0; k < r.bins.size(); ++k) {
      const int b = r.matched_bin[k];
      const char* status = b >= 0 ? "matched" : (r.covered[k] ? "missed" : "not covered");
      h += "<tr class=\"" +
           std::string(b >= 0         ? "matched"
                       : r.covered[k] ? "missed"
                                      : "outside") +
           "\"><td>" + html_escape(r.bins[k].id) + "</td><td>" + num(r.bins[k].position.lat, 6) +
           ", " + num(r.bins[k].position.lon, 6) + "</td><td>" + status + "</td><td>" +
           (b >= 0 ? std::to_string(l.bins[static_cast<std::size_t>(b)].id) : "") + "</td><td>" +
           (b >= 0 ? num(r.match_distance_m[k], 1) : "") + "</td></tr>\n";
    }
    h += "</tbody></table>\n";
  }
  if (l.without_gps) {
    h += "<p class=\"meta\">" + std::to_string(l.without_gps) +
         " photos with a bin have no GPS position and are not on the map.</p>\n";
  }
  // One script: Leaflet, then the map drawn from the survey's data: JSON (see script_json) on a
  // line of its own (JSON text holds no raw line break), the page's last but two.
  h += "<script>";
  if (drawn) h += std::string(leaflet_js()) + "\n";
  h += "(function(D){\n" + std::string(kScript) + "})(\n" +
       (drawn ? script_json(map_data(l, options, map_areas(l))) : std::string("null")) +
       "\n);\n</script>\n</body></html>\n";
  return h;
}

}  // namespace binscan
