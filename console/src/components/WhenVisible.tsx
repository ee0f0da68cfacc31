/**
 * Renders its children once their place scrolls into view (or at once where IntersectionObserver
 * is missing): heavy, below-the-fold parts such as a chart then cost nothing to the first screen.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';

export function WhenVisible({ children, minHeight, margin = '200px' }: { children: ReactNode; minHeight: number; margin?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [seen, setSeen] = useState(typeof IntersectionObserver === 'undefined');
  useEffect(() => {
    if (seen || !ref.current) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setSeen(true);
    }, { rootMargin: margin });
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, [seen, margin]);
  return seen ? <>{children}</> : <div ref={ref} style={{ minHeight }} />;
}
