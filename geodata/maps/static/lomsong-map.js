/* lomsong map helpers, served by the app itself (no outside host).
 *
 * Popups and tooltips are built with textContent, never innerHTML, so a
 * village name can never inject markup. Hexagons travel as delta-encoded
 * integers (a fraction of the GeoJSON weight) and are drawn here.
 */
(function () {
  "use strict";

  /* Search key: no diacritics, lower case, single spaces ("Bản Giòng" -> "ban giong"). */
  function fold(text) {
    return String(text)
      .replace(/[\u0111\u0110]/g, "d")
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/\s+/g, " ")
      .trim();
  }

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value === null || value === undefined ? "" : String(value);
    if (className) node.className = className;
    return node;
  }

  /* A popup table from rows [label, value, href?]; a value may be a list of lines. */
  function table(title, rows) {
    var box = document.createElement("div");
    box.className = "lomsong-popup";
    if (title) box.appendChild(text("strong", title));
    var t = document.createElement("table");
    rows.forEach(function (row) {
      var tr = t.insertRow();
      tr.appendChild(text("th", row[0]));
      var td = tr.insertCell();
      var lines = Array.isArray(row[1]) ? row[1] : [row[1]];
      lines.forEach(function (line, i) {
        if (i) td.appendChild(document.createElement("br"));
        if (row[2]) {
          var a = text("a", line);
          a.href = row[2];
          td.appendChild(a);
        } else {
          td.appendChild(document.createTextNode(line === null ? "" : String(line)));
        }
      });
    });
    box.appendChild(t);
    return box;
  }

  /* Popups no wider than a phone's screen. */
  function popupOptions() {
    return { maxWidth: Math.max(200, Math.min(360, window.innerWidth - 60)) };
  }

  /* Popups above every control and box of the page. Leaflet keeps its popup
   * pane inside the map pane, whose stacking context puts it under the layer
   * list, the legend and the title box; here it moves to the map's container
   * and follows the map pane as it pans. */
  if (window.L && L.Map) {
    L.Map.addInitHook(function () {
      var pane = this.getPane("popupPane");
      var mapPane = this.getPane("mapPane");
      this.getContainer().appendChild(pane);
      function follow() { L.DomUtil.setPosition(pane, L.DomUtil.getPosition(mapPane)); }
      this.on("move viewreset zoom resize", follow);
      follow();
    });
  }

  /* Even-odd point-in-polygon over every ring of a Leaflet polygon's latlngs. */
  function contains(latlngs, p) {
    var inside = false;
    (function walk(rings) {
      if (!rings.length) return;
      if (rings[0] instanceof L.LatLng) {
        for (var i = 0, j = rings.length - 1; i < rings.length; j = i++) {
          var a = rings[i];
          var b = rings[j];
          if ((a.lat > p.lat) !== (b.lat > p.lat) &&
              p.lng < (b.lng - a.lng) * (p.lat - a.lat) / (b.lat - a.lat) + a.lng) inside = !inside;
        }
        return;
      }
      rings.forEach(walk);
    })(latlngs);
    return inside;
  }

  /* Layers (villages) whose features own a click inside them: zones, hexagons
   * and dots drawn over them hand such a click on. */
  var owners = [];
  function ownerAt(map, latlng) {
    for (var i = owners.length - 1; i >= 0; i--) {
      if (!map.hasLayer(owners[i])) continue;
      var found = null;
      owners[i].eachLayer(function (layer) {
        if (!found && layer.getLatLngs && layer.getBounds().contains(latlng) &&
            contains(layer.getLatLngs(), latlng)) found = layer;
      });
      if (found) return found;
    }
    return null;
  }

  /* On a click: the owning village's popup, else ``open`` (if any). */
  function yieldClick(e, open) {
    var map = e.target._map;
    if (!map) return;
    var owner = ownerAt(map, e.latlng);
    if (owner) owner.openPopup(e.latlng);
    else if (open) open(map, e.latlng);
  }

  /* Names beside the village centres, shown while at most ``limit`` are in
   * view (a commune, not a province) and the map is not zoomed far out. */
  function labelLayer(geo, tips, limit, minZoom) {
    var group = L.layerGroup();
    var map = null;
    function update() {
      var view = map.getBounds().pad(0.05);
      var inView = tips.filter(function (t) { return view.contains(t.getLatLng()); });
      var show = map.getZoom() >= minZoom && inView.length <= limit;
      tips.forEach(function (t) {
        var want = show && inView.indexOf(t) !== -1;
        if (want && !group.hasLayer(t)) group.addLayer(t);
        else if (!want && group.hasLayer(t)) group.removeLayer(t);
      });
    }
    geo.on("add", function () {
      map = geo._map;
      group.addTo(map);
      map.on("zoomend moveend", update);
      update();
    });
    geo.on("remove", function () {
      if (!map) return;
      map.off("zoomend moveend", update);
      group.remove();
    });
  }

  function popupRows(props, fields) {
    return fields
      .filter(function (f) { return props[f[1]] !== undefined; })
      .map(function (f) { return [f[0], props[f[1]], f[2] ? props[f[2]] : null]; });
  }

  /* A GeoJSON layer styled by one property, with text-only popups and tooltips.
   * opts: {style, colourBy, colours, strokeByColour, className, title, fields,
   *        tooltip, radius, ownsClicks, yields, label, labelAt, labelOn} */
  function featureLayer(data, opts) {
    var tips = [];
    var features = 0;
    function style(feature) {
      var s = Object.assign({}, opts.style || {});
      if (opts.colourBy) {
        var colour = opts.colours[feature.properties[opts.colourBy]] || "#9e9e9e";
        s.fillColor = colour;
        if (opts.strokeByColour) s.color = colour;
      }
      if (opts.className) s.className = opts.className;
      return s;
    }
    var geo = L.geoJSON(data, {
      style: style,
      pointToLayer: function (feature, latlng) {
        var s = style(feature);
        s.radius = opts.radius || 4;
        return L.circleMarker(latlng, s);
      },
      onEachFeature: function (feature, layer) {
        var props = feature.properties;
        function content() {
          return table(opts.title ? props[opts.title] : null, popupRows(props, opts.fields));
        }
        if (opts.yields) {
          layer.on("click", function (e) {
            yieldClick(e, opts.fields ? function (map, latlng) {
              L.popup(popupOptions()).setLatLng(latlng).setContent(content()).openOn(map);
            } : null);
          });
        } else if (opts.fields) {
          layer.bindPopup(content, popupOptions());
        }
        if (opts.tooltip) {
          layer.bindTooltip(function () { return text("span", props[opts.tooltip]); });
        }
        // At the given point (the centre dot), else the middle of the outline's box.
        var at = opts.labelAt ? opts.labelAt[features] :
          layer.getBounds ? layer.getBounds().getCenter() : null;
        features++;
        if (opts.label && at) {
          // labelOn: "centre" writes the label on the marker (the survey plan's ranks).
          var centred = opts.labelOn === "centre";
          tips.push(L.tooltip({ permanent: true, direction: centred ? "center" : "right",
            offset: centred ? [0, 0] : [5, 0],
            className: centred ? "lomsong-rank" : "lomsong-label",
            interactive: false })
            .setLatLng(at)
            .setContent(text("span", props[opts.label])));
        }
      },
    });
    if (opts.ownsClicks) owners.push(geo);
    if (tips.length) labelLayer(geo, tips, 40, 10);
    return geo;
  }

  /* Hexagons from {s: scale, c: [[lat0, lng0, dlat1, dlng1, ...]], v: [class index],
   * n: [readings], e: [evidence index]}; opts: {colours, labels, evidence, readings,
   * className, canvas}. */
  function hexLayer(data, opts) {
    var group = L.featureGroup();
    var renderer = opts.canvas ? L.canvas() : undefined;
    var s = data.s;
    for (var i = 0; i < data.c.length; i++) {
      var a = data.c[i];
      var lat = a[0];
      var lng = a[1];
      var points = [[lat / s, lng / s]];
      for (var k = 2; k < a.length; k += 2) {
        lat += a[k];
        lng += a[k + 1];
        points.push([lat / s, lng / s]);
      }
      var colour = opts.colours[data.v[i]];
      var hex = L.polygon(points, {
        color: colour, weight: 0.5, fillColor: colour, fillOpacity: 0.55,
        className: opts.className, renderer: renderer,
      });
      hex.lomsongInfo = [opts.labels[data.v[i]], opts.evidence[data.e[i]],
        opts.readings + ": " + data.n[i]];
      group.addLayer(hex);
    }
    group.bindTooltip(function (layer) {
      return text("span", (layer.lomsongInfo || []).join(" · "));
    }, { sticky: true });
    if (opts.yields) group.on("click", function (e) { yieldClick(e, null); });
    return group;
  }

  /* Phone panels: a button per panel (the layer list, the legend) that says
   * what it opens; below 600 px (CSS) the panels start closed and one at a
   * time is open. Above, the buttons are hidden and the panels always shown. */
  function panels(map, control, labels) {
    var items = [[control.getContainer(), labels.layers],
      [document.querySelector(".lomsong-legend"), labels.legend]]
      .filter(function (item) { return item[0]; });
    var bar = document.createElement("div");
    bar.className = "lomsong-toggles";
    var buttons = [];
    function set(i, open) {
      items[i][0].classList.toggle("lomsong-open", open);
      buttons[i].setAttribute("aria-expanded", String(open));
    }
    items.forEach(function (item, i) {
      var panel = item[0];
      panel.classList.add("lomsong-panel");
      if (!panel.id) panel.id = "lomsong-panel-" + i;
      var button = text("button", item[1], "lomsong-toggle");
      button.type = "button";
      button.setAttribute("aria-controls", panel.id);
      button.setAttribute("aria-expanded", "false");
      button.addEventListener("click", function () {
        var open = !panel.classList.contains("lomsong-open");
        items.forEach(function (_, k) { set(k, false); });
        set(i, open);
      });
      buttons.push(button);
      bar.appendChild(button);
    });
    document.body.appendChild(bar);
    // What print needs: the map's size on screen, to fit it on the page (CSS zoom).
    function size() {
      var box = map.getSize();
      var root = document.documentElement.style;
      root.setProperty("--lomsong-map-w", box.x + "px");
      root.setProperty("--lomsong-map-h", box.y + "px");
      root.setProperty("--lomsong-print-zoom", String(Math.min(1, 680 / box.x, 860 / box.y)));
    }
    map.on("resize", size);
    size();
  }

  /* dd/mm/yyyy, as dates are read here. */
  function today() {
    var d = new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getDate()) + "/" + two(d.getMonth() + 1) + "/" + d.getFullYear();
  }
  function stampDates() {
    var nodes = document.querySelectorAll("[data-lomsong-today]");
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = today();
  }
  document.addEventListener("DOMContentLoaded", stampDates);
  window.addEventListener("beforeprint", stampDates);

  /* Client-side search over [label, folded key, url, context] entries. */
  function search(input, list, entries, limit) {
    function update() {
      var q = fold(input.value);
      list.textContent = "";
      if (!q) return;
      var shown = 0;
      for (var i = 0; i < entries.length && shown < limit; i++) {
        if (entries[i][1].indexOf(q) === -1) continue;
        var li = document.createElement("li");
        var a = text("a", entries[i][0]);
        a.href = entries[i][2];
        li.appendChild(a);
        li.appendChild(text("span", " — " + entries[i][3], "lomsong-context"));
        list.appendChild(li);
        shown++;
      }
    }
    input.addEventListener("input", update);
    update();
  }

  window.lomsong = {
    fold: fold, featureLayer: featureLayer, hexLayer: hexLayer, search: search, panels: panels,
  };
})();
