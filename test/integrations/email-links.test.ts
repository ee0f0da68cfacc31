import { expect } from 'chai';
import {
  clickUrl, openPixelUrl, rewriteLinks, signUnsubscribeToken, unsubscribeUrl, verifyLink, verifyUnsubscribeToken,
} from '../../integrations/email/links';

const SECRET = 'tracking-secret';
const BASE = 'https://spirit.example/';

describe('signed email links', () => {
  it('signs and verifies open pixels and click links', () => {
    const pixel = openPixelUrl(BASE, 'c1-42', SECRET);
    expect(pixel).to.match(/^https:\/\/spirit\.example\/e\/o\/c1-42\?s=[A-Za-z0-9_-]{22}$/);
    expect(verifyLink(pixel, SECRET)).to.deep.equal({ kind: 'open', sendId: 'c1-42' });

    const target = 'https://spirit.example/tours/alhambra?utm_source=email&lang=es#dates';
    const click = clickUrl(BASE, 'c1-42', target, SECRET);
    expect(verifyLink(click, SECRET)).to.deep.equal({ kind: 'click', sendId: 'c1-42', targetUrl: target });
    // A request path (as a router sees it), also behind a path prefix.
    const { pathname, search } = new URL(click);
    expect(verifyLink(`${pathname}${search}`, SECRET)).to.deep.equal({ kind: 'click', sendId: 'c1-42', targetUrl: target });
    expect(verifyLink(`/api${pathname}${search}`, SECRET)).to.deep.equal({ kind: 'click', sendId: 'c1-42', targetUrl: target });
  });

  it('rejects tampered links: another send, another target, a bad signature, another secret', () => {
    const click = new URL(clickUrl(BASE, 'c1-42', 'https://spirit.example/tours', SECRET));
    const otherSend = new URL(click);
    otherSend.pathname = '/e/c/c1-43';
    expect(verifyLink(otherSend, SECRET)).to.equal(null);

    const openRedirect = new URL(click);
    openRedirect.searchParams.set('u', 'https://evil.example/phish');
    expect(verifyLink(openRedirect, SECRET)).to.equal(null);

    const badSignature = new URL(click);
    badSignature.searchParams.set('s', `${click.searchParams.get('s')!.slice(0, -1)}A`);
    expect(verifyLink(badSignature, SECRET)).to.equal(null);
    const noSignature = new URL(click);
    noSignature.searchParams.delete('s');
    expect(verifyLink(noSignature, SECRET)).to.equal(null);

    expect(verifyLink(click, 'another-secret')).to.equal(null);
    // An open signature does not make a click link, nor the reverse.
    const pixel = new URL(openPixelUrl(BASE, 'c1-42', SECRET));
    expect(verifyLink(`https://spirit.example/e/c/c1-42?u=${encodeURIComponent('https://x.example')}&s=${pixel.searchParams.get('s')}`, SECRET)).to.equal(null);
    expect(verifyLink('https://spirit.example/other', SECRET)).to.equal(null);
    expect(() => clickUrl(BASE, 'c1-42', 'javascript:alert(1)', SECRET)).to.throw(/http/);
  });

  it('signs unsubscribe tokens and refuses altered ones', () => {
    const token = signUnsubscribeToken('contact:7f1c', SECRET);
    expect(verifyUnsubscribeToken(token, SECRET)).to.equal('contact:7f1c');
    expect(unsubscribeUrl(BASE, token)).to.equal(`https://spirit.example/u/${token}`);
    const [subject, signature] = token.split('.');
    const forged = `${Buffer.from('contact:8000').toString('base64url')}.${signature}`;
    expect(verifyUnsubscribeToken(forged, SECRET)).to.equal(null);
    expect(verifyUnsubscribeToken(`${subject}.${signature}x`, SECRET)).to.equal(null);
    expect(verifyUnsubscribeToken(token, 'other')).to.equal(null);
    expect(verifyUnsubscribeToken('garbage', SECRET)).to.equal(null);
  });

  it('rewrites http(s) links to click URLs and appends the open pixel, leaving the rest alone', () => {
    const unsubscribe = 'https://spirit.example/u/tok-1';
    const html = [
      '<html><body>',
      '<a class="btn" href="https://spirit.example/tours?city=granada&amp;month=10" target="_blank">Tours</a>',
      "<a href='http://partner.example/offer'>Offer</a>",
      '<a href="mailto:help@spirit-tours.example">Mail</a>',
      '<a href="tel:+34958000000">Call</a>',
      '<a href="#top">Top</a>',
      '<a href="/relative">Relative</a>',
      `<a href="${unsubscribe}">Unsubscribe</a>`,
      '<a href="https://spirit.example/u/preferences">Preferences</a>',
      '<a clicktracking="off" href="https://spirit.example/raw">Raw</a>',
      '<a href="{{view_online_url}}">View online</a>',
      '<a data-href="https://x.example" name="n">No href</a>',
      '</body></html>',
    ].join('\n');
    const out = rewriteLinks(html, { publicUrl: BASE, sendId: 's-1', secret: SECRET, unsubscribeUrl: unsubscribe });

    const hrefs = [...out.matchAll(/<a\b[^>]*?\shref="([^"]*)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
    const verified = hrefs.map((h) => verifyLink(h, SECRET));
    expect(verified[0]).to.deep.equal({ kind: 'click', sendId: 's-1', targetUrl: 'https://spirit.example/tours?city=granada&month=10' });
    expect(verified[1]).to.deep.equal({ kind: 'click', sendId: 's-1', targetUrl: 'http://partner.example/offer' });
    expect(hrefs.slice(2)).to.deep.equal([
      'mailto:help@spirit-tours.example', 'tel:+34958000000', '#top', '/relative', unsubscribe,
      'https://spirit.example/u/preferences', 'https://spirit.example/raw', '{{view_online_url}}',
    ]);
    expect(out).to.include('<a class="btn" href="https://spirit.example/e/c/s-1?u=').and.include('" target="_blank">Tours</a>');
    expect(out).to.include('<a data-href="https://x.example" name="n">No href</a>');

    const pixel = /<img src="([^"]+)" width="1" height="1" alt=""[^>]*>\n?<\/body>/.exec(out);
    expect(pixel, 'pixel right before </body>').to.not.equal(null);
    expect(verifyLink(pixel![1], SECRET)).to.deep.equal({ kind: 'open', sendId: 's-1' });
    expect(rewriteLinks('<p>no body tag</p>', { publicUrl: BASE, sendId: 's-1', secret: SECRET })).to.match(/^<p>no body tag<\/p><img src=/);
    expect(rewriteLinks('<p>x</p>', { publicUrl: BASE, sendId: 's-1', secret: SECRET, openPixel: false })).to.equal('<p>x</p>');
  });
});
